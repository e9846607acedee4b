//! The order book page: the market's open orders, asked of the market at each view.

use super::*;

/// One order of the market's book, as much of it as the page shows.
#[derive(Debug, Deserialize, serde::Serialize)]
struct Order {
    hash: String,
    resource: String,
    signer: String,
    price: u64,
    volume: u64,
    remaining: u64,
}

#[derive(Debug, Deserialize)]
struct BookPage {
    orders: Vec<Order>,
}

pub(super) async fn render_orders(state: &State, q: &PageQuery) -> Result<Rendered, ExplorerError> {
    let page = q.page();
    let Some(market) = &state.market else {
        return Ok(Rendered::error(
            StatusCode::OK,
            "No market known",
            "This explorer was started without a market: start it with --market URL (decloud \
             node --explorer uses the node's own market) to see the open orders here.",
        ));
    };
    let mut body = String::from("<h1>Order book</h1>");
    let mut json = json!({});
    for kind in ["app", "dataset", "workerpool", "request"] {
        let url = format!(
            "{}/v1/orderbook/{kind}?page={page}&page_size=25",
            market.trim_end_matches('/')
        );
        let answer = async {
            state
                .http
                .get(&url)
                .send()
                .await?
                .error_for_status()?
                .json::<BookPage>()
                .await
        };
        match answer.await {
            Ok(book) => {
                let resource_kind = if kind == "request" { "app" } else { kind };
                let rows: Vec<Vec<String>> = book
                    .orders
                    .iter()
                    .map(|o| {
                        vec![
                            format!(
                                "<code title=\"{0}\">{1}</code>",
                                esc(&o.hash),
                                esc(&short(&o.hash))
                            ),
                            link(resource_kind, &o.resource),
                            link("requester", &o.signer),
                            o.price.to_string(),
                            format!("{} of {}", o.remaining, o.volume),
                        ]
                    })
                    .collect();
                let more = rows.len() >= 25;
                body.push_str(&format!(
                    "<h2>{} orders</h2>{}",
                    esc(kind),
                    table(
                        kind,
                        &[
                            "Order",
                            if kind == "request" { "App" } else { "Resource" },
                            "Signer",
                            "Price",
                            "Remaining"
                        ],
                        &rows,
                        "No open order of this kind."
                    )
                ));
                if more || page > 0 {
                    body.push_str(&pager("/orders", "page", page, more));
                }
                json[kind] = json!(book.orders);
            }
            Err(_) => {
                body.push_str(&format!(
                    "<h2>{} orders</h2><p class=\"notice\">The market did not answer: check that \
                     it runs at the URL the explorer was given.</p>",
                    esc(kind)
                ));
                json[kind] = json!(null);
            }
        }
    }
    Ok(Rendered::ok("Order book", "", body, json))
}

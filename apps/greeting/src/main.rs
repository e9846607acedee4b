//! Greets its arguments: `Hello, Alice Bob!` into `/out/result.txt`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let who = if args.is_empty() {
        "world".to_string()
    } else {
        args.join(" ")
    };
    let greeting = format!("Hello, {who}!\n");
    print!("{greeting}");
    app_output::publish("result.txt", greeting);
}

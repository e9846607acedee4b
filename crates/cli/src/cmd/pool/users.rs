//! Users and groups: adding them, listing and showing them, validating pending identities and
//! setting rights.

use decloud_pool::wire::{GroupInfo, NewGroup, NewMember, NewUser, SetRight, UserInfo};

use super::api::Api;
use super::session::read_password;
use super::{GroupCommand, UserCommand};
use crate::cmd::shared::{Untrusted, print_json, table};

/// Runs `decloud pool user <verb>`.
pub(super) async fn user(api: &Api, command: UserCommand, json: bool) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            right: r,
            password_file,
        } => {
            let password = read_password(password_file.as_deref(), "")?;
            let user: UserInfo = api
                .post(
                    "/v1/pool/users",
                    &NewUser {
                        name,
                        right: Some(right(&r)?),
                        password,
                    },
                )
                .await?;
            if json {
                return print_json(&user);
            }
            println!(
                "user {} added ({})",
                Untrusted(&user.name),
                user.right.as_str()
            );
        }
        UserCommand::List => {
            let users: Vec<UserInfo> = api.get("/v1/pool/users").await?;
            if json {
                return print_json(&users);
            }
            users_table(&users);
        }
        UserCommand::Show { name } => {
            let path = if name == "me" {
                "/v1/pool/me".to_owned()
            } else {
                format!("/v1/pool/users/{name}")
            };
            let user: UserInfo = api.get(&path).await?;
            if json {
                return print_json(&user);
            }
            users_table(std::slice::from_ref(&user));
        }
        UserCommand::Validate { name } => {
            let user: UserInfo = api
                .post(
                    &format!("/v1/pool/users/{name}/validate"),
                    &serde_json::json!({}),
                )
                .await?;
            if json {
                return print_json(&user);
            }
            println!("user {} is {}", Untrusted(&user.name), user.status);
        }
        UserCommand::SetRight { name, right: r } => {
            let user: UserInfo = api
                .post(
                    &format!("/v1/pool/users/{name}/right"),
                    &SetRight { right: right(&r)? },
                )
                .await?;
            if json {
                return print_json(&user);
            }
            println!(
                "user {} now has the right {}",
                Untrusted(&user.name),
                user.right.as_str()
            );
        }
    }
    Ok(())
}

/// Runs `decloud pool group <verb>`.
pub(super) async fn group(api: &Api, command: GroupCommand, json: bool) -> anyhow::Result<()> {
    match command {
        GroupCommand::Add { name } => {
            let group: GroupInfo = api.post("/v1/pool/groups", &NewGroup { name }).await?;
            if json {
                return print_json(&group);
            }
            println!("group {} added", Untrusted(&group.name));
        }
        GroupCommand::AddMember { group, user } => {
            let group: GroupInfo = api
                .post(
                    &format!("/v1/pool/groups/{group}/members"),
                    &NewMember { user },
                )
                .await?;
            if json {
                return print_json(&group);
            }
            println!(
                "group {}: {}",
                Untrusted(&group.name),
                Untrusted(group.members.join(", "))
            );
        }
        GroupCommand::List => {
            let groups: Vec<GroupInfo> = api.get("/v1/pool/groups").await?;
            if json {
                return print_json(&groups);
            }
            let mut t = table(["name", "owner", "mode", "members"]);
            for g in &groups {
                t.add_row(vec![
                    Untrusted(&g.name).to_string(),
                    Untrusted(&g.owner).to_string(),
                    g.mode.to_string(),
                    Untrusted(g.members.join(",")).to_string(),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

fn users_table(users: &[UserInfo]) {
    let mut t = table(["name", "right", "status", "groups", "identities"]);
    for u in users {
        t.add_row(vec![
            Untrusted(&u.name).to_string(),
            u.right.as_str().to_owned(),
            u.status.clone(),
            Untrusted(u.groups.join(",")).to_string(),
            Untrusted(u.identities.join(" ")).to_string(),
        ]);
    }
    println!("{t}");
}

fn right(text: &str) -> anyhow::Result<decloud_pool::Right> {
    Ok(text.parse()?)
}

//! `decloud pool ...` through the real binary against a real scheduler: an administrator adds a
//! user and declares its private worker, the user inserts a private app, submits a job, reads it
//! and its result; refusals are one line.

mod common;

use std::time::Duration;

use common::Cli;
use decloud_testkit::Devnet;
use decloud_testkit::pool::{Pool, PoolOptions};

const ADMIN_PASSWORD: &str = "pool administrator password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_and_users_drive_the_pool_from_the_cli() {
    let devnet = Devnet::start().await.unwrap();
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 1,
            pool_admin_password: Some(ADMIN_PASSWORD.into()),
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let mut env = Cli::new(devnet.home(), "");
    env.scheduler = pool.scheduler_url();
    let login = |user: &str, password: &str| {
        let out = env
            .command(&["pool", "login", "--user", user])
            .env("DECLOUD_POOL_PASSWORD", password)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let as_user = |token: &str, args: &[&str]| {
        env.command(args)
            .env("DECLOUD_POOL_TOKEN", token)
            .output()
            .unwrap()
    };
    let ok = |token: &str, args: &[&str]| {
        let out = as_user(token, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let fails = |token: &str, args: &[&str]| {
        let out = as_user(token, args);
        assert!(!out.status.success(), "{args:?} must fail");
        let err = String::from_utf8(out.stderr).unwrap().trim().to_owned();
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        err
    };
    let json = |token: &str, args: &[&str]| -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&ok(token, &args)).unwrap()
    };

    // No session: a one-line reason.
    let err =
        common::one_line_failure(&env.run(&["pool", "job", "list"]), &["pool", "job", "list"]);
    assert!(err.contains("decloud pool login"), "{err}");
    let wrong = env
        .command(&["pool", "login", "--user", "admin"])
        .env("DECLOUD_POOL_PASSWORD", "not the password")
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong login or password"));

    let admin = login("admin", ADMIN_PASSWORD);
    let out = env
        .command(&["pool", "user", "add", "ann"])
        .env("DECLOUD_POOL_TOKEN", &admin)
        .env("DECLOUD_POOL_PASSWORD", "ann's password")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("user ann added (standard)"));
    let listed = ok(&admin, &["pool", "user", "list"]);
    assert!(
        listed.contains("ann") && listed.contains("administrator"),
        "{listed}"
    );
    let worker = pool.worker_address(0).to_string();
    let declared = ok(
        &admin,
        &[
            "pool",
            "worker",
            "add",
            &worker,
            "--owner",
            "ann",
            "--confinement",
            "private",
        ],
    );
    assert!(declared.contains("works for ann (private)"), "{declared}");
    assert_eq!(json(&admin, &["pool", "worker", "list"])[0]["owner"], "ann");

    let ann = login("ann", "ann's password");
    let err = fails(&ann, &["pool", "user", "add", "eve"]);
    assert!(err.contains("insert-user"), "{err}");
    let wasm = decloud_testkit::fixtures::example_app_path("greeting");
    let app = json(&ann, &["pool", "app", "add", wasm.to_str().unwrap()]);
    assert_eq!(app["confinement"], "private");
    assert_eq!(app["mode"], "700");
    let app_id = app["id"].as_str().unwrap().to_owned();
    assert!(ok(&ann, &["pool", "app", "list"]).contains(&app_id));
    let err = fails(&ann, &["pool", "chmod", "apps", &app_id, "755"]);
    assert!(err.contains("change-access"), "{err}");
    let shown = ok(&admin, &["pool", "chmod", "apps", &app_id, "750"]);
    assert!(shown.contains("rwxr-x---"), "{shown}");
    let job = json(&ann, &["pool", "job", "submit", &app_id, "--args", "Dana"]);
    let job_id = job["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let shown = json(&ann, &["pool", "job", "show", &job_id]);
        if shown["status"] == "completed" {
            assert_eq!(shown["worker"], worker.as_str());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the job never completed: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ok(&ann, &["pool", "job", "list"]).contains("completed"));
    let out = env.file("result.tar");
    let said = ok(
        &ann,
        &[
            "pool",
            "job",
            "result",
            &job_id,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(said.contains("written to"), "{said}");
    let tar = std::fs::read(&out).unwrap();
    assert!(String::from_utf8_lossy(&tar).contains("Hello, Dana!"));
    let err = fails(
        &admin,
        &["pool", "job", "result", "job-unknown", "--out", "x"],
    );
    assert!(err.contains("404") && err.contains("no job"), "{err}");
    let help = ok(&admin, &["pool", "job", "submit", "--help"]);
    assert!(help.contains("Examples:"), "{help}");

    // Deleting: the job has ended, so the owner deletes it and then its app.
    let err = fails(&admin, &["pool", "app", "delete", "app-unknown"]);
    assert!(err.contains("404") && err.contains("no app"), "{err}");
    let said = ok(&ann, &["pool", "job", "delete", &job_id]);
    assert!(said.contains(&format!("{job_id} deleted")), "{said}");
    let deleted = json(&ann, &["pool", "app", "delete", &app_id]);
    assert_eq!(deleted, serde_json::json!({"id": app_id, "deleted": true}));
    assert!(!ok(&ann, &["pool", "app", "list"]).contains(&app_id));
}

/// The two other credential kinds through the real binary: a wallet signs the pool's challenge
/// and becomes a visitor named by its address; a client certificate from a CA the pool trusts
/// (mutual TLS to the pinned scheduler) is pending until validated; an unknown wallet, an
/// untrusted CA's certificate and a key that is not one are refused in one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallets_and_client_certificates_log_in_from_the_cli() {
    let devnet = Devnet::start().await.unwrap();
    let trusted = decloud_testkit::certs::Authority::new("Pool CA");
    let stranger = decloud_testkit::certs::Authority::new("Another CA");
    let pool = Pool::start(
        &devnet,
        PoolOptions {
            workers: 0,
            pool_admin_password: Some(ADMIN_PASSWORD.into()),
            client_cas: vec![trusted.certificate()],
            ..PoolOptions::default()
        },
    )
    .await
    .unwrap();
    let mut env = Cli::new(devnet.home(), "");
    env.scheduler = pool.scheduler_url();
    let with_token = |token: &str, args: &[&str]| -> serde_json::Value {
        let out = env
            .command(args)
            .env("DECLOUD_POOL_TOKEN", token)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };

    // A wallet: its session acts as the user named by its address, a visitor.
    let alice = env.import("alice", 3);
    let session = env.json(&["pool", "login", "--wallet", "alice"]);
    assert_eq!(session["user"], alice.to_string(), "{session}");
    let token = session["token"].as_str().unwrap();
    assert!(token.starts_with("dcp_"), "{session}");
    let me = with_token(token, &["pool", "user", "show", "me", "--json"]);
    assert_eq!(me["name"], alice.to_string(), "{me}");
    assert_eq!(me["right"], "visitor", "{me}");
    // Without --json the token alone, ready to export; every login is a new session.
    let plain = env.ok(&["pool", "login", "--wallet", "alice"]);
    assert!(
        plain.trim().starts_with("dcp_") && plain.trim() != token,
        "{plain}"
    );
    let args = ["pool", "login", "--wallet", "nobody"];
    let err = common::one_line_failure(&env.run(&args), &args);
    assert!(err.contains("nobody"), "{err}");
    let wrong = env
        .command(&["pool", "login", "--wallet", "alice"])
        .env("DECLOUD_WALLET_PASSWORD", "not the password")
        .output()
        .unwrap();
    let err = common::one_line_failure(&wrong, &["pool", "login", "--wallet", "alice"]);
    assert!(!err.contains("dcp_"), "{err}");

    // A certificate of a trusted CA: pending, then a session once an administrator validates.
    let carol = trusted.client("carol");
    let (cert, key) = (env.file("carol.pem"), env.file("carol.key"));
    std::fs::write(&cert, &carol.pem).unwrap();
    std::fs::write(&key, &carol.key_pem).unwrap();
    let args = [
        "pool",
        "login",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    let err = common::one_line_failure(&env.run(&args), &args);
    assert!(
        err.contains("403") && err.contains("carol") && err.contains("pending"),
        "{err}"
    );
    let admin = env
        .command(&["pool", "login", "--user", "admin"])
        .env("DECLOUD_POOL_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    let admin = String::from_utf8(admin.stdout).unwrap().trim().to_owned();
    let validated = with_token(&admin, &["pool", "user", "validate", "carol", "--json"]);
    assert_eq!(validated["status"], "active", "{validated}");
    let session = env.json(&args);
    assert_eq!(session["user"], "carol", "{session}");
    let me = with_token(
        session["token"].as_str().unwrap(),
        &["pool", "user", "show", "me", "--json"],
    );
    assert!(
        me["identities"][0].as_str().unwrap().contains("CN=carol"),
        "{me}"
    );
    assert_eq!(me["right"], "standard", "{me}");

    // A certificate of another CA: the scheduler refuses the handshake.
    let mallory = stranger.client("mallory");
    std::fs::write(&cert, &mallory.pem).unwrap();
    std::fs::write(&key, &mallory.key_pem).unwrap();
    let err = common::one_line_failure(&env.run(&args), &args);
    assert!(err.contains("trust list"), "{err}");
    // A key file that holds no key: said before anything is sent.
    std::fs::write(&key, "not a key").unwrap();
    let err = common::one_line_failure(&env.run(&args), &args);
    assert!(err.contains("PKCS#8"), "{err}");
    // No certificate for an unpinned scheduler.
    std::fs::write(&key, &mallory.key_pem).unwrap();
    let mut unpinned = Cli::new(devnet.home(), "");
    unpinned.scheduler = Some("https://127.0.0.1:9".into());
    let err = common::one_line_failure(&unpinned.run(&args), &args);
    assert!(err.contains("pins no key"), "{err}");
    let help = env.ok(&["pool", "login", "--help"]);
    assert!(
        help.contains("--wallet alice") && help.contains("--cert carol.pem"),
        "{help}"
    );
}

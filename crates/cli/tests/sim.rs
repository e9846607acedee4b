//! `decloud sim` and `decloud sim sweep` through the real binary: the JSON report, the same
//! output for the same seed, the CSV and SVG a sweep writes, and one-line errors for bad
//! parameters.

use std::process::{Command, Output};

use decloud_testkit::fixtures::json_output;

fn decloud(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_decloud"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the decloud binary runs")
}

#[test]
fn sim_json_reports_rates_costs_classes_and_scores_deterministically() {
    let args = [
        "sim",
        "--json",
        "--seed",
        "7",
        "--tasks",
        "400",
        "--trust",
        "5",
        "--colluders",
        "0.25",
        "--faulty",
        "0.1",
        "--error-rate",
        "0.2",
        "--max-replicas",
        "24",
    ];
    let first = decloud(&args);
    let v = json_output(&first).unwrap();
    assert_eq!(v["config"]["seed"], 7);
    assert_eq!(v["config"]["selection"], "uniform");
    assert_eq!(v["population"]["colluders"], 250);
    assert_eq!(v["population"]["faulty"], 100);
    assert_eq!(v["wrong"]["trials"], 400);
    let wrong = v["wrong"]["value"].as_f64().unwrap();
    let (lo, hi) = (
        v["wrong"]["ci_low"].as_f64().unwrap(),
        v["wrong"]["ci_high"].as_f64().unwrap(),
    );
    assert!(lo <= wrong && wrong <= hi && hi < 0.2, "{}", v["wrong"]);
    assert_eq!(v["promise"], 0.2);
    let mean = v["contributions"]["mean"].as_f64().unwrap();
    assert!((3.0..10.0).contains(&mean), "{mean}");
    assert_eq!(
        v["contributions"]["histogram"].as_array().unwrap().len(),
        25,
        "0..=24 contributions"
    );
    // equal initial scores: the exact model is reported beside the simulation
    let exact = v["exact"]["wrong"].as_f64().unwrap();
    assert!(exact > 0.0 && exact < 0.2, "{exact}");
    assert_eq!(v["exact_is_this_model"], false);
    let classes = v["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 3);
    assert_eq!(classes[2]["class"], "colluder");
    assert_eq!(classes[2]["stake_seized"], classes[2]["losses"]);
    let checkpoints = v["checkpoints"].as_array().unwrap();
    assert_eq!(checkpoints.len(), 11, "the start and every 40 tasks");
    assert_eq!(checkpoints[10]["after_tasks"], 400);
    // the same seed, another process: the same bytes
    let second = decloud(&args);
    assert_eq!(first.stdout, second.stdout);
}

#[test]
fn sim_prints_a_readable_report() {
    let out = decloud(&[
        "sim",
        "--tasks",
        "300",
        "--trust",
        "100",
        "--colluders",
        "0.1",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "wrongly certified",
        "contributions per task",
        "wasted replicas",
        "stake seized",
        "mean score",
        "promise ≤ 1.00 %",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[test]
fn sweep_writes_a_csv_and_an_svg() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("plots");
    let out = decloud(&[
        "sim",
        "sweep",
        "--trust",
        "5,20",
        "--f-to",
        "0.3",
        "--f-step",
        "0.15",
        "--tasks",
        "200",
        "--selection",
        "with-replacement",
        "--frozen-scores",
        "--out",
        out_dir.to_str().unwrap(),
        "--name",
        "t",
        "--json",
    ]);
    let v = json_output(&out).unwrap();
    assert_eq!(v["points"].as_array().unwrap().len(), 6);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[0]["trust"], 5);
    assert_eq!(
        findings[0]["exact_holds_up_to"], 0.3,
        "trust 5 holds its 20 % at f = 0.3"
    );

    let csv = std::fs::read_to_string(out_dir.join("t.csv")).expect("CSV written");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..3], ["trust", "f", "promise"]);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 6);
    for row in &rows {
        assert_eq!(row.len(), header.len());
        let rate: f64 = row[col("wrong_rate")].parse().unwrap();
        let lo: f64 = row[col("ci_low")].parse().unwrap();
        let hi: f64 = row[col("ci_high")].parse().unwrap();
        let exact: f64 = row[col("exact_wrong")].parse().unwrap();
        assert!(
            lo <= rate && rate <= hi && (0.0..=1.0).contains(&exact),
            "{row:?}"
        );
    }
    assert_eq!(rows[0][col("exact_wrong")].parse::<f64>().unwrap(), 0.0);

    let svg = std::fs::read_to_string(out_dir.join("t.svg")).expect("SVG written");
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    for tag in ["text", "circle"] {
        let open = svg.matches(&format!("<{tag} ")).count();
        let closed = svg.matches(&format!("</{tag}>")).count() + svg.matches("/>").count();
        assert!(open > 0 && closed >= open, "{tag}: {open} opened");
    }
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    assert!(svg.contains("colluding fraction f") && svg.contains("log scale"));
    assert!(svg.contains("trust 5 (promise 20.0 %)"));
    assert!(svg.contains("stroke-dasharray"), "the promise lines");
}

#[test]
fn random_selection_reports_the_draw_and_the_spot_checks() {
    let out = decloud(&[
        "sim",
        "--json",
        "--tasks",
        "300",
        "--population",
        "200",
        "--trust",
        "100",
        "--colluders",
        "0.3",
        "--score-colluders",
        "300",
        "--selection",
        "random",
        "--spot-check",
        "0.5",
    ]);
    let v = json_output(&out).unwrap();
    assert_eq!(v["config"]["selection"], "random");
    assert_eq!(v["config"]["cap"], "root", "the hub's rule by default");
    let audits = v["audits"]["audits"].as_u64().unwrap();
    assert!((100..200).contains(&audits), "{}", v["audits"]);
    // at trust 100, 7 drawn; colluders at score 300 weigh the cap 9: three of them win unopposed
    assert_eq!(v["drawn"]["n"], 7);
    assert_eq!(v["drawn"]["m"], 3);
    let simulated: u64 = v["drawn"]["simulated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(simulated, 300);
    let exact = v["drawn"]["exact_at_least_m"].as_f64().unwrap();
    assert!((0.3..0.4).contains(&exact), "P(at least 3 of 7) = {exact}");
    // the hub's semantics: a contradicted task fails, and the report says how many did
    assert_eq!(v["config"]["contradicted"], "fails");
    let refuted = v["audits"]["refuted"].as_u64().unwrap();
    assert_eq!(
        refuted,
        v["audits"]["caught"].as_u64().unwrap() + v["audits"]["refuted_correct"].as_u64().unwrap()
    );
    let counted = ["correct", "wrong_collusion", "wrong_faulty"]
        .iter()
        .map(|k| v[k].as_u64().unwrap())
        .sum::<u64>()
        + v["no_consensus"]["count"].as_u64().unwrap()
        + refuted;
    assert_eq!(counted, 300, "every task is counted once");
    // the table form names both figures
    let text = decloud(&[
        "sim",
        "--tasks",
        "200",
        "--population",
        "200",
        "--trust",
        "20",
        "--selection",
        "random",
        "--rule",
        "none",
    ]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("exact (hypergeometric)") && text.contains("rule none"),
        "{text}"
    );
}

#[test]
fn bad_parameters_are_one_line_errors() {
    for (args, message) in [
        (
            vec!["sim", "--colluders", "1.5"],
            "colluders must be a fraction between 0 and 1, got 1.5",
        ),
        (
            vec!["sim", "--population", "0"],
            "the population must have at least 1 worker",
        ),
        (
            vec!["sim", "--colluders", "0.6", "--faulty", "0.6"],
            "add up to more than 1",
        ),
        (
            vec!["sim", "--error-rate", "-0.1"],
            "error rate must be a fraction between 0 and 1, got -0.1",
        ),
        (
            vec!["sim", "--spot-check", "2"],
            "spot check must be a fraction between 0 and 1, got 2",
        ),
        (
            vec!["sim", "--colluder-stake", "0"],
            "stake ratio must be between 0.01 and 100",
        ),
        (
            vec!["sim", "--pool-slash"],
            "slashing the pool stake needs the random selection",
        ),
        (
            vec!["sim", "--audit-trust-factor", "0"],
            "the audit trust factor must be at least 1",
        ),
        (vec!["sim", "sweep", "--f-step", "0"], "a step > 0"),
        (vec!["sim", "sweep", "--name", "a/b"], "plain file name"),
    ] {
        let out = decloud(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

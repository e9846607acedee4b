//! A test fixture for the runtime's tests, not an example: `sandbox-probe <mode> [arg]` pokes at
//! one wall of the sandbox and writes what it saw to `/out/report.txt`.
//!
//! Modes: `report` (clock, randomness, env, args, and attempts to escape: paths outside `/in`
//! and `/out`, writing `/in`, threads, network), `write <bytes>` (one big output file),
//! `fill` (writes to `/out` without end),
//! `alloc` (grows memory without bound), `spin` (loops forever), `sleep` (an hour),
//! `stdout <bytes>` (prints a lot), `panic`, `exit <code>`,
//! `no-computed`, `bad-computed`, `escape-output` (computed.json points outside `/out`).

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    fn random_get(buf: *mut u8, len: usize) -> u16;
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // SAFETY: buf is a valid, writable buffer of n bytes.
    let errno = unsafe { random_get(buf.as_mut_ptr(), n) };
    assert_eq!(errno, 0, "random_get failed");
    buf
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn outcome<T, E: std::fmt::Debug>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("err {e:?}"),
    }
}

fn computed(path: &str) {
    fs::write(
        "/out/computed.json",
        format!(r#"{{"deterministic-output-path":"{path}"}}"#),
    )
    .expect("write computed.json");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("report");
    match mode {
        "report" => {
            let mut r = String::new();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            writeln!(r, "wall_clock_ns={}", now.as_nanos()).unwrap();
            let start = Instant::now();
            let mut x = 0u64;
            for i in 0..1000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            writeln!(
                r,
                "busy={x} monotonic_elapsed_ns={}",
                start.elapsed().as_nanos()
            )
            .unwrap();
            writeln!(r, "random={}", hex(&random_bytes(32))).unwrap();
            writeln!(r, "random_again={}", hex(&random_bytes(32))).unwrap();
            let mut env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
            env.sort();
            writeln!(r, "env={}", env.join(";")).unwrap();
            writeln!(r, "args={}", args.join(" ")).unwrap();
            writeln!(
                r,
                "read_in_data={}",
                outcome(fs::read_to_string("/in/data.txt"))
            )
            .unwrap();
            writeln!(r, "read_etc_passwd={}", outcome(fs::read("/etc/passwd"))).unwrap();
            writeln!(r, "read_in_dotdot={}", outcome(fs::read_dir("/in/.."))).unwrap();
            writeln!(
                r,
                "read_in_dotdot_file={}",
                outcome(fs::read("/in/../../etc/passwd"))
            )
            .unwrap();
            writeln!(
                r,
                "read_out_dotdot={}",
                outcome(fs::read("/out/../secret.txt"))
            )
            .unwrap();
            writeln!(r, "read_root={}", outcome(fs::read_dir("/"))).unwrap();
            writeln!(r, "write_in={}", outcome(fs::write("/in/new.txt", b"x"))).unwrap();
            writeln!(r, "remove_in={}", outcome(fs::remove_file("/in/data.txt"))).unwrap();
            writeln!(r, "write_tmp={}", outcome(fs::write("/tmp/x", b"x"))).unwrap();
            writeln!(
                r,
                "thread={}",
                outcome(std::thread::Builder::new().spawn(|| 1))
            )
            .unwrap();
            writeln!(
                r,
                "tcp={}",
                outcome(std::net::TcpStream::connect("127.0.0.1:80"))
            )
            .unwrap();
            writeln!(
                r,
                "nan_bits={:x}",
                (std::hint::black_box(f64::from_bits(0x7ff8_0000_0000_0001)) + 1.0).to_bits()
            )
            .unwrap();
            print!("{r}");
            fs::write("/out/report.txt", r).expect("write report");
            computed("/out/report.txt");
        }
        "write" => {
            let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1 << 20);
            let mut f = fs::File::create("/out/big.bin").expect("create big.bin");
            let chunk = vec![0xabu8; 64 * 1024];
            let mut left = n;
            while left > 0 {
                let k = left.min(chunk.len());
                f.write_all(&chunk[..k]).expect("write big.bin");
                left -= k;
            }
            computed("/out/big.bin");
        }
        "fill" => {
            let mut f = fs::File::create("/out/fill.bin").expect("create fill.bin");
            let chunk = vec![0xcdu8; 64 * 1024];
            loop {
                f.write_all(&chunk).expect("write fill.bin");
            }
        }
        "alloc" => {
            let mut blocks: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut b = vec![0u8; 1 << 20];
                b[0] = blocks.len() as u8;
                blocks.push(b);
            }
        }
        "spin" => {
            let mut x = 0u64;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        "sleep" => {
            let start = Instant::now();
            std::thread::sleep(std::time::Duration::from_secs(3600));
            let r = format!("slept_ns={}\n", start.elapsed().as_nanos());
            fs::write("/out/report.txt", r).expect("write report");
            computed("/out/report.txt");
        }
        "panic" => panic!("the probe panics on purpose"),
        "exit" => std::process::exit(args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3)),
        "no-computed" => fs::write("/out/result.txt", b"no computed.json").expect("write"),
        "bad-computed" => fs::write("/out/computed.json", b"{not json").expect("write"),
        "escape-output" => computed("/out/../in/data.txt"),
        "stdout" => {
            let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1 << 20);
            let line = "0123456789abcdef".repeat(4) + "\n";
            let mut out = std::io::stdout().lock();
            for _ in 0..n / line.len() {
                out.write_all(line.as_bytes()).expect("stdout");
            }
            fs::write("/out/ok.txt", b"ok").expect("write");
            computed("/out/ok.txt");
        }
        other => {
            eprintln!("sandbox-probe: unknown mode {other}");
            std::process::exit(2);
        }
    }
}

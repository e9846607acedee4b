//! An oracle app: the median of the integers given as arguments, as `callback-data` (one
//! ABI-encoded `int256`, two's complement, big-endian) for a callback consumer contract.
//! With an even count the median is the floor of the mean of the two middle values.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut values = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.trim().parse::<i64>() {
            Ok(v) => values.push(v as i128),
            Err(_) => {
                eprintln!("median: {arg:?} is not an integer; pass integers, e.g. `median 3 1 2`");
                return ExitCode::from(2);
            }
        }
    }
    if values.is_empty() {
        eprintln!("median: no numbers given; pass integers as arguments, e.g. `median 3 1 2`");
        return ExitCode::from(2);
    }
    values.sort_unstable();
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]).div_euclid(2)
    };
    // int256: sign-extend the i128 to 32 bytes.
    let mut word = [if median < 0 { 0xffu8 } else { 0 }; 32];
    word[16..].copy_from_slice(&median.to_be_bytes());
    println!("median of {n} values: {median}");
    app_output::publish_with_callback("median.txt", format!("{median}\n"), &word);
    ExitCode::SUCCESS
}

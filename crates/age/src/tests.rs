use std::process::Command;

use proptest::prelude::*;

use super::*;

fn sizes() -> [usize; 7] {
    [
        0,
        1,
        100,
        CHUNK_BYTES - 1,
        CHUNK_BYTES,
        CHUNK_BYTES + 1,
        3 * CHUNK_BYTES + 17,
    ]
}

fn bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn every_size_round_trips_to_each_of_several_recipients() {
    let (a, b) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let stranger = Identity::generate().unwrap();
    for len in sizes() {
        let plain = bytes(len);
        let file = encrypt(&plain, &[a.recipient(), b.recipient()]).unwrap();
        assert!(is_age(&file));
        assert_eq!(
            decrypt(&file, &a).unwrap(),
            plain,
            "{len} bytes, first recipient"
        );
        assert_eq!(
            decrypt(&file, &b).unwrap(),
            plain,
            "{len} bytes, second recipient"
        );
        assert_eq!(
            decrypt(&file, &stranger),
            Err(AgeError::NoMatchingRecipient)
        );
    }
    assert_eq!(encrypt(b"x", &[]), Err(AgeError::NoRecipients));
}

#[test]
fn keys_print_and_parse_as_age_keygen_writes_them() {
    let identity = Identity::generate().unwrap();
    let text = identity.to_secret_string();
    assert!(
        text.starts_with("AGE-SECRET-KEY-1") && text.len() == 74,
        "{text}"
    );
    let again: Identity = text.parse().unwrap();
    assert_eq!(again.recipient(), identity.recipient());
    let file = format!(
        "# created: now\n# public key: {}\n{text}\n",
        identity.recipient()
    );
    assert_eq!(
        Identity::from_file_text(&file).unwrap().recipient(),
        identity.recipient()
    );
    let recipient = identity.recipient().to_string();
    assert!(
        recipient.starts_with("age1") && recipient.len() == 62,
        "{recipient}"
    );
    assert_eq!(
        recipient.parse::<Recipient>().unwrap(),
        identity.recipient()
    );
    // The wrong kind of key, a broken checksum, garbage.
    assert_eq!(
        recipient.parse::<Identity>().err(),
        Some(AgeError::BadIdentity)
    );
    assert_eq!(
        text.parse::<Recipient>().err(),
        Some(AgeError::BadRecipient)
    );
    let mut broken = recipient.clone();
    broken.replace_range(10..11, if &recipient[10..11] == "q" { "p" } else { "q" });
    assert_eq!(
        broken.parse::<Recipient>().err(),
        Some(AgeError::BadRecipient)
    );
    assert_eq!("".parse::<Identity>().err(), Some(AgeError::BadIdentity));
    // Debug never shows the secret.
    assert!(!format!("{identity:?}").contains(&text[16..]));
}

#[test]
fn any_change_to_a_file_is_refused() {
    let identity = Identity::generate().unwrap();
    let plain = bytes(2 * CHUNK_BYTES + 5);
    let file = encrypt(&plain, &[identity.recipient()]).unwrap();
    let header_end = file.windows(4).position(|w| w == b"\n---").unwrap() + 1;
    // A changed stanza argument, or a changed MAC: the header does not check out.
    let mut changed = file.clone();
    let share_at = file.windows(7).position(|w| w == b"X25519 ").unwrap() + 7 + 5;
    changed[share_at] = if changed[share_at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    assert!(decrypt(&changed, &identity).is_err());
    let mut changed = file.clone();
    let mac_at = header_end + 10;
    changed[mac_at] = if changed[mac_at] == b'A' { b'B' } else { b'A' };
    assert_eq!(decrypt(&changed, &identity), Err(AgeError::BadMac));
    // A flipped payload byte, a cut-off last chunk, a dropped last chunk.
    let mut changed = file.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    assert_eq!(decrypt(&changed, &identity), Err(AgeError::BadPayload(2)));
    assert_eq!(
        decrypt(&file[..file.len() - 3], &identity),
        Err(AgeError::BadPayload(2))
    );
    assert_eq!(
        decrypt(&file[..file.len() - 5 - TAG_BYTES], &identity),
        Err(AgeError::BadPayload(1))
    );
    assert_eq!(decrypt(b"hello", &identity), Err(AgeError::NotAge));
    assert!(matches!(
        decrypt(b"age-encryption.org/v1\n-> X25519\n", &identity),
        Err(AgeError::BadHeader(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn garbage_after_the_version_line_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
        let identity = Identity::generate().unwrap();
        let mut file = format!("{VERSION_LINE}\n").into_bytes();
        file.extend_from_slice(&tail);
        prop_assert!(decrypt(&file, &identity).is_err());
    }
}

/// The stock `age` tool (Debian's, installed by scripts/bootstrap).
fn stock(tool: &str) -> Command {
    let found = Command::new(tool).arg("--version").output();
    assert!(
        found.is_ok(),
        "`{tool}` is not installed: run scripts/bootstrap (it installs Debian's age)"
    );
    Command::new(tool)
}

#[test]
fn the_stock_age_tool_reads_ours_and_we_read_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.txt");
    let out = stock("age-keygen").arg("-o").arg(&key).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let theirs = Identity::from_file_text(&std::fs::read_to_string(&key).unwrap()).unwrap();
    let ours = Identity::generate().unwrap();
    for len in [0, 5, CHUNK_BYTES, CHUNK_BYTES + 1] {
        let plain = bytes(len);
        // Ours, encrypted to their key: `age -d` opens it.
        let file = dir.path().join(format!("ours-{len}.age"));
        std::fs::write(&file, encrypt(&plain, &[theirs.recipient()]).unwrap()).unwrap();
        let out = stock("age")
            .arg("-d")
            .arg("-i")
            .arg(&key)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{len} bytes: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, plain, "{len} bytes decrypted by age");
        // Theirs, encrypted by `age -r` to our recipient: we open it.
        let plain_file = dir.path().join(format!("plain-{len}"));
        std::fs::write(&plain_file, &plain).unwrap();
        let file = dir.path().join(format!("theirs-{len}.age"));
        let out = stock("age")
            .arg("-r")
            .arg(ours.recipient().to_string())
            .arg("-o")
            .arg(&file)
            .arg(&plain_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            decrypt(&std::fs::read(&file).unwrap(), &ours).unwrap(),
            plain
        );
    }
}

#[test]
fn an_identity_file_is_private_never_overwritten_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys/result.key");
    let identity = Identity::generate().unwrap();
    identity.write_new_file(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        Identity::read_file(&path).unwrap().recipient(),
        identity.recipient()
    );
    let other = Identity::generate().unwrap();
    let err = other.write_new_file(&path).unwrap_err();
    assert!(err.to_string().contains("it exists"), "{err}");
    assert_eq!(
        Identity::read_file(&path).unwrap().recipient(),
        identity.recipient()
    );
    std::fs::write(dir.path().join("junk"), "hello").unwrap();
    let err = Identity::read_file(&dir.path().join("junk")).unwrap_err();
    assert!(err.to_string().contains("holds no age identity"), "{err}");
    assert!(!err.to_string().contains("hello"));
}

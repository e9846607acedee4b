//! The `tdx` backend: quotes from the kernel of an Intel TDX guest through configfs-tsm
//! (`/sys/kernel/config/tsm/report`, Linux ≥ 6.7).
//!
//! The protocol: create a directory under the report root, write the 64 bytes of
//! `report_data` to its `inblob`, read the quote from `outblob`, and check that its
//! `generation` did not move between the write and the read (another writer on the same entry
//! would change it). The quote chains to Intel's SGX root; its collateral comes from a PCCS
//! (Intel's or a cache), attached by the caller or held by the appraiser.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::quote::{self, TdMeasurements};
use crate::{AttestError, Attester, Collateral, Evidence, ReportData, TeeKind};

/// Where configfs-tsm reports live.
pub const TSM_REPORT_ROOT: &str = "/sys/kernel/config/tsm/report";

/// An attester inside a TDX guest.
#[derive(Debug)]
pub struct TdxAttester {
    root: PathBuf,
    collateral: Option<Collateral>,
    counter: AtomicU64,
}

impl TdxAttester {
    /// Uses the kernel's configfs-tsm at [`TSM_REPORT_ROOT`].
    pub fn new() -> Self {
        Self::with_root(TSM_REPORT_ROOT)
    }

    /// Uses a configfs-tsm report directory elsewhere (a test double of the kernel's, or a
    /// non-standard mount point).
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            collateral: None,
            counter: AtomicU64::new(0),
        }
    }

    /// Attaches this collateral (fetched from a PCCS for this platform's FMSPC) to evidence.
    pub fn with_collateral(mut self, collateral: Collateral) -> Self {
        self.collateral = Some(collateral);
        self
    }

    /// Whether the configfs-tsm report interface is present.
    pub fn available(&self) -> bool {
        self.root.is_dir()
    }

    fn tsm_err(path: &Path, reason: impl std::fmt::Display) -> AttestError {
        AttestError::Tsm {
            path: path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// A raw quote over `report_data` from configfs-tsm, checked to bind it.
    pub fn quote(&self, report_data: &ReportData) -> Result<Vec<u8>, AttestError> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let entry = self
            .root
            .join(format!("decloud-{}-{n}", std::process::id()));
        fs::create_dir(&entry).map_err(|e| Self::tsm_err(&entry, e))?;
        let result = self.quote_in(&entry, report_data);
        // The kernel frees the entry on rmdir; a failure here leaks one small entry, no secret.
        let _ = fs::remove_dir(&entry);
        result
    }

    fn quote_in(&self, entry: &Path, report_data: &ReportData) -> Result<Vec<u8>, AttestError> {
        let provider_path = entry.join("provider");
        if let Ok(provider) = fs::read_to_string(&provider_path)
            && provider.trim() != "tdx_guest"
        {
            return Err(Self::tsm_err(
                &provider_path,
                format!("the TSM provider is {:?}, not tdx_guest", provider.trim()),
            ));
        }
        let inblob = entry.join("inblob");
        fs::write(&inblob, report_data.as_bytes()).map_err(|e| Self::tsm_err(&inblob, e))?;
        let generation_path = entry.join("generation");
        let before = read_generation(&generation_path)?;
        let outblob = entry.join("outblob");
        let quote = fs::read(&outblob).map_err(|e| Self::tsm_err(&outblob, e))?;
        let after = read_generation(&generation_path)?;
        if before != after {
            return Err(AttestError::ReportDataNotBound);
        }
        let info =
            quote::read_td_quote(&quote).map_err(|e| AttestError::BadEvidence(e.to_string()))?;
        if info.report_data != *report_data {
            return Err(AttestError::ReportDataNotBound);
        }
        Ok(quote)
    }
}

impl Default for TdxAttester {
    fn default() -> Self {
        Self::new()
    }
}

fn read_generation(path: &Path) -> Result<Option<u64>, AttestError> {
    match fs::read_to_string(path) {
        Ok(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| TdxAttester::tsm_err(path, "generation is not a number")),
        // Older kernels and test doubles may lack it; the report_data check still holds.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TdxAttester::tsm_err(path, e)),
    }
}

impl Attester for TdxAttester {
    fn kind(&self) -> TeeKind {
        TeeKind::Tdx
    }

    fn evidence(&self, report_data: &ReportData) -> Result<Evidence, AttestError> {
        Ok(Evidence {
            kind: TeeKind::Tdx,
            quote: self.quote(report_data)?,
            collateral: self.collateral.clone(),
        })
    }

    fn measurements(&self) -> Result<TdMeasurements, AttestError> {
        let quote = self.quote(&ReportData([0; 64]))?;
        quote::read_td_quote(&quote)
            .map(|i| i.measurements)
            .map_err(|e| AttestError::BadEvidence(e.to_string()))
    }

    fn announcement(&self) -> String {
        format!(
            "TEE: Intel TDX (tdx), quotes from configfs-tsm at {}, appraised under Intel's SGX root CA",
            self.root.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimAttester;

    /// An entry as the kernel leaves it after the write: `outblob` holds the quote.
    fn entry_with(quote: &[u8], provider: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("e");
        fs::create_dir(&entry).unwrap();
        fs::write(entry.join("provider"), format!("{provider}\n")).unwrap();
        fs::write(entry.join("generation"), "1\n").unwrap();
        fs::write(entry.join("outblob"), quote).unwrap();
        (dir, entry)
    }

    #[test]
    fn reads_the_quote_the_kernel_wrote_and_checks_its_report_data() {
        let rd = ReportData([9; 64]);
        let quote = SimAttester::new(31337).unwrap().quote(&rd).unwrap();
        let attester = TdxAttester::with_root("/nonexistent");
        let (_d, entry) = entry_with(&quote, "tdx_guest");
        assert_eq!(attester.quote_in(&entry, &rd).unwrap(), quote);
        assert_eq!(fs::read(entry.join("inblob")).unwrap(), rd.0.to_vec());
        // A quote over other report_data (another writer raced us): refused.
        assert!(matches!(
            attester.quote_in(&entry, &ReportData([8; 64])),
            Err(AttestError::ReportDataNotBound)
        ));
        // Another TSM provider (e.g. an SEV-SNP guest): refused with the reason.
        let (_d, entry) = entry_with(&quote, "sev_guest");
        let err = attester.quote_in(&entry, &rd).unwrap_err();
        assert!(err.to_string().contains("sev_guest"), "{err}");
        // Garbage from the platform.
        let (_d, entry) = entry_with(b"not a quote", "tdx_guest");
        assert!(matches!(
            attester.quote_in(&entry, &rd),
            Err(AttestError::BadEvidence(_))
        ));
    }
}

//! Debian kernel packages: the newest of a series in the apt sources, downloaded and
//! unpacked once into the cache.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

use super::Series;

/// An unpacked kernel package.
pub struct Kernel {
    /// `uname -r` of the kernel (`6.1.0-50-amd64`).
    pub release: String,
    /// The compressed kernel image.
    pub vmlinuz: PathBuf,
    /// `lib/modules/<release>` of the package.
    pub modules: PathBuf,
}

fn apt_update() -> Result<()> {
    eprintln!("kernels: apt-get update");
    let st = Command::new("apt-get")
        .args(["update", "-qq"])
        .status()
        .context("running apt-get update")?;
    if !st.success() {
        bail!("apt-get update failed ({st})");
    }
    Ok(())
}

/// The number between `prefix` and `suffix` of `name`, when `name` has that shape.
pub fn series_number(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let middle = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if middle.is_empty() || !middle.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    middle.parse().ok()
}

fn newest_known(series: &Series) -> Result<Option<String>> {
    let out = Command::new("apt-cache")
        .args(["pkgnames", series.prefix])
        .output()
        .context("running apt-cache pkgnames")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|n| {
            Some((
                series_number(n, series.prefix, series.suffix)?,
                n.to_owned(),
            ))
        })
        .max()
        .map(|(_, n)| n))
}

/// The newest package of `series` the apt sources know (after an `apt-get update` when they
/// know none).
pub fn newest(series: &Series) -> Result<String> {
    if let Some(name) = newest_known(series)? {
        return Ok(name);
    }
    apt_update()?;
    newest_known(series)?.with_context(|| {
        format!(
            "no package {}<N>{} (Linux {}) in the apt sources",
            series.prefix, series.suffix, series.label
        )
    })
}

fn cached_deb(cache: &Path, package: &str) -> Option<PathBuf> {
    let prefix = format!("{package}_");
    fs::read_dir(cache)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
        })
}

fn download(package: &str, cache: &Path) -> Result<PathBuf> {
    if let Some(deb) = cached_deb(cache, package) {
        return Ok(deb);
    }
    for attempt in 0..2 {
        eprintln!("kernels: downloading {package}");
        let st = Command::new("apt-get")
            .args(["download", "-qq", package])
            .current_dir(cache)
            .status()
            .context("running apt-get download")?;
        if st.success() {
            return cached_deb(cache, package)
                .with_context(|| format!("apt-get download left no {package}_*.deb"));
        }
        // Stale lists name a file the mirror no longer has: refresh once and retry.
        if attempt == 0 {
            apt_update()?;
        }
    }
    bail!("cannot download {package}: not in the apt sources (Debian may have dropped it)")
}

/// Download (once) and unpack (once) `package` into `cache`.
pub fn fetch(package: &str, cache: &Path) -> Result<Kernel> {
    let deb = download(package, cache)?;
    let root = cache.join(package);
    let done = root.join(".unpacked");
    if !done.exists() {
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root)?;
        let st = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(&root)
            .status()
            .context("running dpkg-deb")?;
        if !st.success() {
            bail!("unpacking {} failed ({st})", deb.display());
        }
        fs::write(&done, deb.display().to_string())?;
    }
    let modules_root = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|d| root.join(d))
        .find(|d| d.is_dir())
        .with_context(|| format!("{package} holds no lib/modules"))?;
    let release = fs::read_dir(&modules_root)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .with_context(|| format!("{} is empty", modules_root.display()))?;
    let vmlinuz = root.join("boot").join(format!("vmlinuz-{release}"));
    if !vmlinuz.is_file() {
        bail!("{package} holds no {}", vmlinuz.display());
    }
    Ok(Kernel {
        modules: modules_root.join(&release),
        release,
        vmlinuz,
    })
}

#[cfg(test)]
mod tests {
    use super::series_number;

    #[test]
    fn series_numbers() {
        let (p, s) = ("linux-image-6.1.0-", "-amd64");
        assert_eq!(series_number("linux-image-6.1.0-50-amd64", p, s), Some(50));
        assert_eq!(
            series_number("linux-image-6.1.0-50-cloud-amd64", p, s),
            None
        );
        assert_eq!(series_number("linux-image-6.1.0-50-amd64-dbg", p, s), None);
        assert_eq!(series_number("linux-image-6.1.0--amd64", p, s), None);
        let (p, s) = ("linux-image-6.12.", "+deb12-amd64");
        assert_eq!(
            series_number("linux-image-6.12.117+deb12-amd64", p, s),
            Some(117)
        );
        assert_eq!(
            series_number("linux-image-6.12.117+deb12-rt-amd64", p, s),
            None
        );
    }
}

//! A node's ed25519 identity: created on first start in the data directory (mode 0600, in a
//! folder of mode 0700), reused afterwards. The same key signs (receipts, tickets) and gives the
//! libp2p peer id, so a key file other users can read is refused: whoever reads it can sign as
//! the node.

use std::io::Write;
use std::path::Path;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};

/// Loads the key at `path`, or creates it (and its folder) when missing.
pub fn load_or_create(path: &Path) -> std::io::Result<SigningKey> {
    if path.exists() {
        return load(path);
    }
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let mut secret = [0u8; 32];
    rand::fill(&mut secret);
    let key = SigningKey::from_bytes(&secret);
    let pem = key
        .to_pkcs8_pem(Default::default())
        .map_err(|e| std::io::Error::other(format!("encoding the key: {e}")))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()?;
    tracing::info!(path = %path.display(), "created a new node key");
    Ok(key)
}

/// Creates `dir` (and missing parents) readable by its owner only; an existing folder keeps
/// its mode.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Refuses a key file that other users can read or write, saying how to fix it.
pub fn check_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{0} is open to other users (mode {mode:o}); a key must be private: run `chmod 600 {0}`",
                    path.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Loads a PKCS#8 PEM ed25519 key, once [`check_private`] accepts its file.
pub fn load(path: &Path) -> std::io::Result<SigningKey> {
    check_private(path)?;
    let pem = std::fs::read_to_string(path)?;
    SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not a PKCS#8 PEM ed25519 key: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_with_private_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys/node.pem");
        let a = load_or_create(&path).expect("create");
        let b = load_or_create(&path).expect("reload");
        assert_eq!(a.to_bytes(), b.to_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir.path().join("keys")), 0o700);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_key_other_users_can_read_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node.pem");
        load_or_create(&path).expect("create");
        for mode in [0o644, 0o640, 0o604, 0o660, 0o602] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let err = load_or_create(&path).expect_err("refused");
            assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{mode:o}");
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).expect("chmod");
        load_or_create(&path).expect("owner-only is fine");
    }
}

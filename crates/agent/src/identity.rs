//! The machine's identity: a 32-hex-digit id created once and kept in
//! `agent/machine-id`, like fleet's /etc/machine-id.

use std::io::Read;
use std::path::Path;

use corral_core::MachineId;

use crate::AgentError;

pub fn load_or_create(dir: &Path) -> Result<MachineId, AgentError> {
    let path = dir.join("machine-id");
    match std::fs::read_to_string(&path) {
        Ok(s) => {
            let id = s.trim().to_string();
            if MachineId::is_valid(&id) {
                Ok(MachineId(id))
            } else {
                Err(AgentError::Corrupt(format!(
                    "{} holds {id:?}, not 32 hex digits; delete it to get a new machine id",
                    path.display()
                )))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 16];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut bytes))
                .map_err(|source| AgentError::Io {
                    path: "/dev/urandom".into(),
                    source,
                })?;
            let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            std::fs::write(&path, format!("{id}\n")).map_err(|source| AgentError::Io {
                path: path.clone(),
                source,
            })?;
            Ok(MachineId(id))
        }
        Err(source) => Err(AgentError::Io { path, source }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stable_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let a = super::load_or_create(dir.path()).unwrap();
        let b = super::load_or_create(dir.path()).unwrap();
        assert_eq!(a, b);
        assert!(corral_core::MachineId::is_valid(&a.0));
    }
}

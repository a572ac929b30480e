//! The three managed Kubernetes offerings the wizard targets. A leaf: it imports nothing of
//! the crate, so answers, catalog and profiles can all depend on it.

use std::fmt;

/// The cloud of the cluster and of its secret manager.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cloud {
    Aws,
    Gcp,
    Azure,
}

impl Cloud {
    pub const ALL: [Cloud; 3] = [Cloud::Aws, Cloud::Gcp, Cloud::Azure];

    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Gcp => "gcp",
            Cloud::Azure => "azure",
        }
    }

    pub fn parse(value: &str) -> Option<Cloud> {
        Cloud::ALL.into_iter().find(|c| c.as_str() == value)
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

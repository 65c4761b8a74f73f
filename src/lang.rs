//! The interface languages the till ships with. Kept apart from `ui` so the till's
//! settings file can name one without pulling in Slint.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The interface language. Russian is the language of the `.slint` sources; English comes
/// from the bundled catalogue `assets/lang/en/LC_MESSAGES/bonuskassa.po`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Ru,
    En,
}

impl Language {
    /// The code the user types (`--lang ru`) and the name of the bundled translation.
    pub fn as_code(self) -> &'static str {
        match self {
            Language::Ru => "ru",
            Language::En => "en",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_code())
    }
}

/// A language code that is not one of the bundled languages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown language {0:?}: expected \"ru\" or \"en\"")]
pub struct UnknownLanguage(pub String);

impl FromStr for Language {
    type Err = UnknownLanguage;

    /// Accepts `ru` and `en`, in any letter case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("ru") {
            Ok(Language::Ru)
        } else if s.eq_ignore_ascii_case("en") {
            Ok(Language::En)
        } else {
            Err(UnknownLanguage(s.to_owned()))
        }
    }
}

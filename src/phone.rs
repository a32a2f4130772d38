//! A citizen's phone number, as stored: international digits without `+` ("393401234567").

use std::fmt;

/// A phone number in international digits. Only [`Phone::parse`] makes one, so every number
/// in the store has the same form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

impl Phone {
    /// "+39 340 123 4567", "0039 340 1234567", "393401234567" and "340 123 4567" are the same
    /// number: an Italian mobile number written without its country code (9 or 10 digits
    /// starting with 3, no `+` or `00`) gets 39. Fewer than 8 or more than 15 digits is none
    /// (E.164 allows 15).
    pub fn parse(raw: &str) -> Option<Phone> {
        let raw = raw.trim();
        let international = raw.starts_with('+') || raw.starts_with("00");
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        let digits = match digits.strip_prefix("00") {
            Some(rest) if international => rest.to_owned(),
            _ if !international && (9..=10).contains(&digits.len()) && digits.starts_with('3') => {
                format!("39{digits}")
            }
            _ => digits,
        };
        (8..=15).contains(&digits.len()).then_some(Phone(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_form_for_every_way_of_writing_a_number() {
        for raw in [
            "+39 340 123 4567",
            "0039 340 1234567",
            "393401234567",
            "340 123 4567",
            "3401234567",
        ] {
            assert_eq!(
                Phone::parse(raw).map(|p| p.to_string()).as_deref(),
                Some("393401234567")
            );
        }
        assert_eq!(Phone::parse("123"), None);
        // Other countries keep their code.
        assert_eq!(
            Phone::parse("+33 6 12 34 56 78").unwrap().as_str(),
            "33612345678"
        );
        assert_eq!(
            Phone::parse("0049 151 12345678").unwrap().as_str(),
            "4915112345678"
        );
        assert_eq!(Phone::parse("1234567890123456"), None);
    }
}

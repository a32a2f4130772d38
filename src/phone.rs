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

    /// A number as WhatsApp names a sender (`wa_id`): international digits already, the
    /// country code included. Never given an Italian prefix: "3546112233" is Iceland's.
    pub fn international(raw: &str) -> Option<Phone> {
        let digits = raw.trim().trim_start_matches('+');
        (digits.bytes().all(|b| b.is_ascii_digit()) && (8..=15).contains(&digits.len()))
            .then(|| Phone(digits.to_owned()))
    }

    /// A number as the CSV and the command line print it: bare digits are international
    /// already ("3546112233" is Iceland's, as `subscribers list` shows it); anything else
    /// ("+39 340 …", "340 123 4567") is read as [`Phone::parse`] reads it.
    pub fn written(raw: &str) -> Option<Phone> {
        let raw = raw.trim();
        if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            Phone::international(raw)
        } else {
            Phone::parse(raw)
        }
    }

    /// A number typed into a form by its owner: only ASCII digits, spaces and the usual
    /// separators (a letter or another script's digit is a typo, not something to drop), at
    /// most 32 characters; an Italian number must be a mobile one (WhatsApp runs on mobiles).
    pub fn typed_mobile(raw: &str) -> Option<Phone> {
        let raw = raw.trim();
        // A "+" only in front.
        let clean = raw.len() <= 32
            && raw
                .chars()
                .all(|c| c.is_ascii_digit() || " -./()".contains(c) || c == '+')
            && !raw.get(1..).is_some_and(|rest| rest.contains('+'));
        let phone = Phone::parse(raw).filter(|_| clean)?;
        // Without "+" or "00" only an Italian mobile ("347 …" becomes "39347…").
        let international = raw.starts_with('+') || raw.starts_with("00");
        let italian = phone.0.starts_with("39");
        // An Italian mobile number has 9 or 10 digits after 39.
        let mobile = phone.0.starts_with("393") && (11..=12).contains(&phone.0.len());
        ((international && !italian) || mobile).then_some(phone)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Text from elsewhere (a provider's error) with every run of 8 or more digits hidden: it may
/// hold a phone number, and numbers stay out of logs.
pub fn mask_numbers(text: &str) -> String {
    static DIGITS: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\+?\d{8,}").expect("static regex"));
    DIGITS.replace_all(text, "…").into_owned()
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

    #[test]
    fn a_sender_keeps_its_country_and_a_form_takes_only_a_mobile() {
        assert_eq!(
            Phone::international("3546112233").unwrap().as_str(),
            "3546112233"
        );
        assert_eq!(Phone::international("39 347"), None);
        assert_eq!(
            Phone::typed_mobile("+39 347 111 0001").unwrap().as_str(),
            "393471110001"
        );
        assert_eq!(
            Phone::typed_mobile("347 111 0001").unwrap().as_str(),
            "393471110001"
        );
        for wrong in [
            "+39 ３４７ 111 0001",
            "+39 347 1110001x0",
            "0372 111222",
            "+390347111000",
            "12345678",
            "+39 347 1234567 +39 347 1234567 +39",
            "+39 347111",
            "+39 347 111 0004 +39",
        ] {
            assert_eq!(Phone::typed_mobile(wrong), None, "{wrong}");
        }
        assert_eq!(
            Phone::typed_mobile("                          +39 347 1234567")
                .unwrap()
                .as_str(),
            "393471234567",
            "spaces around are no typo"
        );
        assert_eq!(
            Phone::typed_mobile("+33 6 12 34 56 78").unwrap().as_str(),
            "33612345678"
        );
        assert_eq!(Phone::written("3546112233").unwrap().as_str(), "3546112233");
        assert_eq!(
            Phone::written("+39 340 123 4567").unwrap().as_str(),
            "393401234567"
        );
        assert_eq!(
            mask_numbers("(#131026) 393471110001 non raggiungibile"),
            "(#131026) … non raggiungibile"
        );
    }
}

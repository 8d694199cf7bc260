//! Header capture and the trace-context injector.

use http::{
    HeaderMap, HeaderName, HeaderValue,
    header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, SET_COOKIE},
};
use opentelemetry::{Array, KeyValue, StringValue, Value, propagation::Injector};

/// Headers that carry credentials: never recorded, whatever the layer is told.
const NEVER_CAPTURED: [HeaderName; 4] = [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE, SET_COOKIE];

/// The names of `names` that may be recorded, each once.
pub(super) fn capturable(names: impl IntoIterator<Item = HeaderName>) -> Vec<HeaderName> {
    let mut kept: Vec<HeaderName> = Vec::new();
    for name in names {
        if !NEVER_CAPTURED.contains(&name) && !kept.contains(&name) {
            kept.push(name);
        }
    }
    kept
}

/// `<prefix><name>` attributes for each listed header present in `headers`, all its values in
/// one string array, as the semantic conventions record headers.
pub(super) fn captured(
    prefix: &str,
    names: &[HeaderName],
    headers: &HeaderMap,
) -> impl Iterator<Item = KeyValue> {
    names.iter().filter_map(move |name| {
        let values: Vec<StringValue> = headers
            .get_all(name)
            .iter()
            .map(|value| StringValue::from(String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        (!values.is_empty()).then(|| {
            KeyValue::new(
                format!("{prefix}{}", name.as_str()),
                Value::Array(Array::String(values)),
            )
        })
    })
}

/// Writes what a propagator injects into a request's headers; a field that is not a valid
/// header is skipped rather than failing the request.
pub(super) struct HeaderInjector<'a>(pub(super) &'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::try_from(value),
        ) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_never_capturable() {
        let names = capturable([
            AUTHORIZATION,
            HeaderName::from_static("x-request-id"),
            COOKIE,
            HeaderName::from_static("x-request-id"),
            SET_COOKIE,
            PROXY_AUTHORIZATION,
            http::header::ACCEPT,
        ]);
        assert_eq!(
            names,
            [
                HeaderName::from_static("x-request-id"),
                http::header::ACCEPT
            ]
        );
    }

    #[test]
    fn every_value_of_a_header_is_recorded_and_absent_ones_are_not() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        let names = [
            HeaderName::from_static("x-a"),
            HeaderName::from_static("x-b"),
        ];
        let captured: Vec<KeyValue> = captured("http.request.header.", &names, &headers).collect();
        assert_eq!(
            captured,
            [KeyValue::new(
                "http.request.header.x-a",
                Value::Array(Array::String(vec!["1".into(), "2".into()]))
            )]
        );
    }
}

import NIOHTTP1

/// RFC 8288 `Link` header values, as far as Web Push uses them: `<uri>; rel="…"`, possibly several
/// per field and several fields per request.
enum LinkHeader {
    /// One link: its target and relation types.
    struct Link: Equatable {
        var target: String
        var relations: [String]
    }

    /// Every link in the `Link` fields of `headers`. A malformed value yields no link for it;
    /// `malformed` counts them, so a caller can refuse a request it cannot read.
    static func links(in headers: HTTPHeaders) -> (links: [Link], malformed: Int) {
        var links: [Link] = []
        var malformed = 0
        for field in headers["Link"] {
            var rest = Substring(field)
            while true {
                rest = rest.trimmingOWS()
                guard !rest.isEmpty else { break }
                guard rest.first == "<", let close = rest.firstIndex(of: ">") else {
                    malformed += 1
                    break
                }
                let target = String(rest[rest.index(after: rest.startIndex)..<close])
                rest = rest[rest.index(after: close)...]
                var relations: [String] = []
                // Parameters up to the next comma outside quotes.
                var parameters = ""
                var quoted = false
                while let character = rest.first {
                    if character == "\"" { quoted.toggle() }
                    if character == ",", !quoted { break }
                    parameters.append(character)
                    rest = rest.dropFirst()
                }
                if rest.first == "," { rest = rest.dropFirst() }
                for parameter in parameters.split(separator: ";") {
                    let pair = parameter.split(separator: "=", maxSplits: 1)
                    guard pair.count == 2, pair[0].trimmingOWS().lowercased() == "rel" else { continue }
                    var value = pair[1].trimmingOWS()
                    if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = value.dropFirst().dropLast() }
                    relations += value.split(separator: " ").map { $0.lowercased() }
                }
                links.append(Link(target: target, relations: relations))
            }
        }
        return (links, malformed)
    }

    /// The targets of the links with relation `relation`.
    static func targets(_ relation: String, in headers: HTTPHeaders) -> [String] {
        links(in: headers).links.filter { $0.relations.contains(relation) }.map(\.target)
    }
}

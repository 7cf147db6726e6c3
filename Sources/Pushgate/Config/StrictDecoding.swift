/// A key read from YAML by name, whatever it is.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

extension Decoder {
    /// Throws for the first key of this mapping that is not one of `Keys`, suggesting the
    /// nearest allowed key, so a typo never silently falls back to a default.
    func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(_: Keys.Type, section: String) throws {
        let container = try self.container(keyedBy: AnyCodingKey.self)
        let allowed = Keys.allCases.map(\.stringValue)
        for key in container.allKeys where !allowed.contains(key.stringValue) {
            let suggestion = allowed.min { editDistance(key.stringValue, $0) < editDistance(key.stringValue, $1) }
            var hint = "allowed keys in '\(section)': \(allowed.joined(separator: ", "))"
            let prefixMatch = allowed.first { $0.hasPrefix(key.stringValue) || key.stringValue.hasPrefix($0) }
            if let suggestion = suggestion.flatMap({ editDistance(key.stringValue, $0) <= max(2, $0.count / 3) ? $0 : nil }) ?? prefixMatch {
                hint = "did you mean '\(suggestion)'? (\(hint))"
            }
            throw ConfigIssue(
                codingPath: codingPath.map(\.stringValue) + [key.stringValue],
                subject: .key,
                message: "unknown key '\(key.stringValue)' in '\(section)'",
                hint: hint
            )
        }
    }

    /// An issue with the value at `key` of the current mapping.
    func invalid(_ key: some CodingKey, _ message: String, hint: String? = nil) -> ConfigIssue {
        ConfigIssue(codingPath: codingPath.map(\.stringValue) + [key.stringValue], subject: .value, message: message, hint: hint)
    }
}

extension KeyedDecodingContainer {
    /// Decodes an integer at `key` (or `default` when absent) and checks it lies in `range`.
    func integer(_ key: Key, default value: Int, in range: ClosedRange<Int>, unit: String = "") throws -> Int {
        let decoded = try decodeIfPresent(Int.self, forKey: key) ?? value
        guard range.contains(decoded) else {
            let path = codingPath.map(\.stringValue) + [key.stringValue]
            throw ConfigIssue(
                codingPath: path,
                subject: .value,
                message: "'\(key.stringValue)' is \(decoded)\(unit), outside \(range.lowerBound)...\(range.upperBound)",
                hint: "use a value from \(range.lowerBound) to \(range.upperBound)\(unit) (default \(value))"
            )
        }
        return decoded
    }
}

/// Levenshtein distance, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = previous
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

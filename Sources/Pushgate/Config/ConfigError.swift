/// A configuration problem, located in the file and explained with a fix.
///
/// Rendered as `config.yaml:12:3: unknown key 'pubic_url' in 'server'` followed by
/// `  hint: did you mean 'public_url'?`, the form compilers use, so editors can jump to it.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    /// The file the problem is in.
    public let file: String
    /// 1-based line, if known.
    public let line: Int?
    /// 1-based column, if known.
    public let column: Int?
    /// What is wrong.
    public let message: String
    /// How to fix it.
    public let hint: String?

    /// Creates an error at a position.
    public init(file: String, line: Int?, column: Int?, message: String, hint: String?) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.hint = hint
    }

    public var description: String {
        var location = file
        if let line { location += ":\(line)" }
        if let column { location += ":\(column)" }
        var text = "\(location): error: \(message)"
        if let hint { text += "\n  hint: \(hint)" }
        return text
    }
}

/// A problem found while decoding, before its position is known: the loader locates
/// ``codingPath`` in the YAML tree and turns it into a ``ConfigError``.
struct ConfigIssue: Error {
    enum Subject {
        /// The value at the path is wrong.
        case value
        /// The last path component is a key that should not be there.
        case key
    }

    var codingPath: [String]
    var subject: Subject
    var message: String
    var hint: String?
}

import Foundation

/// A host and TCP port to listen on or connect to.
public struct HostAndPort: Hashable, Sendable, CustomStringConvertible {
    /// A host name or IP address (IPv6 without brackets).
    public var host: String
    /// The port; 0 asks the system for a free one (tests use it).
    public var port: Int

    /// Creates a host and port.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` or `[v6]:port`; `nil` when malformed.
    public init?(parsing text: String) {
        let text = text.trimmingCharacters(in: .whitespaces)
        let hostPart: Substring, portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[close...].hasPrefix("]:") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty, let port = Int(portPart), portPart.allSatisfy(\.isASCII) else { return nil }
        self.host = String(hostPart)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Splits an absolute URL into scheme, host, port and path, without Foundation's leniency
/// (which accepts `http:/x` or spaces). Returns `nil` when it is not `scheme://authority[/path]`.
struct URLParts {
    var scheme: String
    var userInfo: String?
    var host: String
    var port: Int?
    var path: String
    var hasQueryOrFragment: Bool

    init?(_ text: String) {
        guard let schemeEnd = text.range(of: "://") else { return nil }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." }),
              !text.contains(where: { $0.isWhitespace })
        else { return nil }
        var rest = text[schemeEnd.upperBound...]
        var authority = rest
        var path = ""
        if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) {
            authority = rest[..<slash]
            rest = rest[slash...]
            path = String(rest)
        }
        hasQueryOrFragment = path.contains("?") || path.contains("#")
        if let at = authority.lastIndex(of: "@") {
            userInfo = String(authority[..<at])
            authority = authority[authority.index(after: at)...]
        }
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let port = Int(after.dropFirst()) else { return nil }
                self.port = port
            } else if !after.isEmpty {
                return nil
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let port = Int(authority[authority.index(after: colon)...]) else { return nil }
            self.port = port
        } else {
            host = String(authority)
        }
        guard !host.isEmpty else { return nil }
        self.scheme = scheme
        self.path = path
    }
}

/// Where the decoder resolves relative file paths: the config file's own folder.
extension CodingUserInfoKey {
    static let configDirectory = CodingUserInfoKey(rawValue: "pushgate.configDirectory")!
}

extension Decoder {
    /// Resolves a path from the config against the config file's folder.
    func resolvePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        let base = userInfo[.configDirectory] as? String ?? FileManager.default.currentDirectoryPath
        return URL(fileURLWithPath: base).appendingPathComponent(path).standardizedFileURL.path
    }

    /// Decodes a path that must name a readable file.
    func existingFile<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, _ key: Key, what: String) throws -> String? {
        guard let raw = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
        let path = resolvePath(raw)
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw invalid(key, "\(what) '\(raw)' does not exist or is not readable (looked at \(path))",
                          hint: "relative paths are resolved against the config file's folder")
        }
        return path
    }
}

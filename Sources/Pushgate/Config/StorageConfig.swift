import Foundation

/// The `storage` section: where the registry (subscriptions, lists, sets, receipts, held
/// messages) is kept — an embedded SQLite file (`path`, one instance) or a PostgreSQL database
/// (`url`, any number of instances).
public struct StorageConfig: Sendable, Decodable, Equatable {
    /// Which database holds the registry.
    public enum Backend: Sendable, Equatable {
        /// `path`: the SQLite database file, created if missing; one Pushgate process at a time.
        case sqlite(path: String)
        /// `url`: a PostgreSQL database shared by every instance.
        case postgres(PostgresLocation)
    }

    /// The database.
    public var backend: Backend
    /// `deleted_retention_days`: how long a deleted subscription is remembered, so pushes to it
    /// answer 410 (then 404, and its memory is freed).
    public var deletedRetentionDays = 30
    /// `load_wait_ms`: the longest start-up waits for the registry to be read into memory; past
    /// it the instance serves, answering reads from the database until the read is done and
    /// refusing changes meanwhile (503, errno 136). A large value waits for the whole read.
    public var loadWaitMilliseconds = 1000

    /// The SQLite file, or `nil` on PostgreSQL.
    public var path: String? {
        if case .sqlite(let path) = backend { return path }
        return nil
    }

    /// Where the registry is, for the start-up log: the file, or the database without its password.
    public var displayName: String {
        switch backend {
        case .sqlite(let path): path
        case .postgres(let location): location.description
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case path, url
        case passwordFile = "password_file"
        case poolSize = "pool_size"
        case deletedRetentionDays = "deleted_retention_days"
        case loadWaitMilliseconds = "load_wait_ms"
    }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(CodingKeys.self, section: "storage")
        let container = try decoder.container(keyedBy: CodingKeys.self)
        deletedRetentionDays = try container.integer(.deletedRetentionDays, default: 30, in: 0...36_500, unit: " days")
        loadWaitMilliseconds = try container.integer(.loadWaitMilliseconds, default: 1000, in: 0...3_600_000, unit: " ms")
        let path = try container.decodeIfPresent(String.self, forKey: .path)
        let url = try container.decodeIfPresent(String.self, forKey: .url)
        switch (path, url) {
        case (_?, _?):
            throw decoder.invalid(CodingKeys.url, "'path' and 'url' are both set",
                                  hint: "keep 'path' for the embedded SQLite file (one instance) or 'url' for PostgreSQL (several instances)")
        case (nil, nil):
            throw decoder.invalid(CodingKeys.path, "the registry needs 'path' (SQLite) or 'url' (PostgreSQL)",
                                  hint: "for example path: /var/lib/pushgate/registry.sqlite")
        case (let raw?, nil):
            for key in [CodingKeys.passwordFile, .poolSize] where container.contains(key) {
                throw decoder.invalid(key, "'\(key.stringValue)' applies to PostgreSQL ('url'), not to a SQLite 'path'")
            }
            backend = .sqlite(path: try Self.sqlitePath(raw, decoder: decoder))
        case (nil, let raw?):
            guard var location = PostgresLocation(parsing: raw) else {
                throw decoder.invalid(CodingKeys.url, "'url' must be postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]",
                                      hint: "for example postgres://pushgate@db.internal:5432/pushgate")
            }
            if let file = try decoder.existingFile(container, .passwordFile, what: "the password file") {
                guard location.password == nil else {
                    throw decoder.invalid(CodingKeys.passwordFile, "the url already has a password", hint: "keep one of the two; a file keeps it out of the config")
                }
                let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
                location.password = String(text.trimmingCharacters(in: .newlines))
            }
            location.poolSize = try container.integer(.poolSize, default: location.poolSize, in: 4...1000, unit: " connections")
            backend = .postgres(location)
        }
    }

    private static func sqlitePath(_ raw: String, decoder: any Decoder) throws -> String {
        guard !raw.isEmpty, !raw.hasSuffix("/") else {
            throw decoder.invalid(CodingKeys.path, "'path' must name a file", hint: "for example /var/lib/pushgate/registry.sqlite")
        }
        let resolved = decoder.resolvePath(raw)
        let folder = URL(fileURLWithPath: resolved).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw decoder.invalid(CodingKeys.path, "the folder of '\(raw)' does not exist (\(folder))",
                                  hint: "create it first (mkdir -p \(folder)) or choose another path")
        }
        return resolved
    }

    /// A SQLite store at `path`, for tests and tools.
    public init(path: String) { self.backend = .sqlite(path: path) }

    /// A PostgreSQL store, for tests and tools.
    public init(postgres location: PostgresLocation) { self.backend = .postgres(location) }
}

/// Where a PostgreSQL database is: `postgres://user[:password]@host[:port]/database[?sslmode=…]`.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    /// How the connection is encrypted (libpq's `sslmode` names).
    public enum TLSMode: String, Sendable {
        /// Plain TCP.
        case disable
        /// TLS if the server offers it.
        case prefer
        /// TLS, verifying the server's certificate against the system's roots.
        case require
    }

    /// The server's host name or address.
    public var host: String
    /// The server's port.
    public var port: Int
    /// The role to log in as.
    public var username: String
    /// Its password, if the server asks for one.
    public var password: String?
    /// The database.
    public var database: String
    /// TLS.
    public var tls: TLSMode
    /// The most connections one instance opens (two of them listen for other instances'
    /// notifications).
    public var poolSize: Int

    /// Parses a `postgres://` or `postgresql://` URL; `nil` if it is not one.
    public init?(parsing text: String) {
        guard let parts = URLParts(text), ["postgres", "postgresql"].contains(parts.scheme), let userInfo = parts.userInfo, !userInfo.isEmpty
        else { return nil }
        var path = Substring(parts.path)
        var query: Substring = ""
        if let mark = path.firstIndex(of: "?") {
            query = path[path.index(after: mark)...]
            path = path[..<mark]
        }
        guard path.hasPrefix("/"), path.count > 1, !path.dropFirst().contains("/"), !path.contains("#") else { return nil }
        var tls = TLSMode.prefer
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, kv[0] == "sslmode", let mode = TLSMode(rawValue: kv[1]) else { return nil }
            tls = mode
        }
        let credentials = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map { String($0).removingPercentEncoding ?? String($0) }
        guard let user = credentials.first, !user.isEmpty, let database = String(path.dropFirst()).removingPercentEncoding else { return nil }
        self.init(host: parts.host, port: parts.port ?? 5432, username: user, password: credentials.count > 1 ? credentials[1] : nil,
                  database: database, tls: tls)
    }

    /// Creates a location.
    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String, tls: TLSMode = .prefer,
                poolSize: Int = 8) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.poolSize = poolSize
    }

    /// The URL without the password (for logs).
    public var description: String {
        "postgres://\(username)@\(HostAndPort(host: host, port: port))/\(database)"
    }
}

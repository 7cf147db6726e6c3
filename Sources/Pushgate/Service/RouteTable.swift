/// The admin routes in force, by push token. Immutable: a reload builds a new table and the
/// service swaps it in whole, so a push sees either the old routes or the new ones.
public struct RouteTable: Sendable {
    /// A route with its push token.
    public struct Entry: Sendable {
        /// The route as configured.
        public let route: RouteConfig
        /// Its push token (`/r/<token>`).
        public let token: String
    }

    /// The routes in configuration order.
    public let entries: [Entry]
    private let byToken: [String: Entry]

    /// No routes.
    public init() {
        entries = []
        byToken = [:]
    }

    /// The table for `routes`, with tokens derived from the installation `secret`.
    public init(_ routes: [RouteConfig], secret: [UInt8]) {
        entries = routes.map { Entry(route: $0, token: RouteToken.derive(name: $0.name, secret: secret)) }
        byToken = Dictionary(entries.map { ($0.token, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The route whose push token is `token`.
    public func entry(token: String) -> Entry? { byToken[token] }

    /// The push URL of `entry` under `publicURL`.
    public static func pushURL(_ entry: Entry, publicURL: String) -> String { "\(publicURL)/r/\(entry.token)" }
}

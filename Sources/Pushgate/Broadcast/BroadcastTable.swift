/// The broadcast routes in force (the config's `routes:`), by push token. Immutable: a reload
/// builds a new table and the handlers swap it in whole, so a push sees either the old routes or
/// the new ones.
public struct BroadcastTable: Sendable {
    /// A route with its push token.
    public struct Entry: Sendable {
        /// The route as configured.
        public let route: BroadcastConfig
        /// Its push token (`/r/<token>`).
        public let token: BroadcastToken
    }

    /// The routes in configuration order.
    public let entries: [Entry]
    private let byToken: [BroadcastToken: Entry]

    /// No routes.
    public init() {
        entries = []
        byToken = [:]
    }

    /// The table for `routes`, with tokens derived from the installation `secret`.
    public init(_ routes: [BroadcastConfig], secret: [UInt8]) {
        entries = routes.map { Entry(route: $0, token: .derive(name: $0.name, secret: secret)) }
        byToken = Dictionary(entries.map { ($0.token, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The route whose push token is `token`.
    public func entry(token: BroadcastToken) -> Entry? { byToken[token] }
}

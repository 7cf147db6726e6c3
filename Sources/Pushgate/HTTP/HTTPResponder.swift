public import NIOHTTP1

/// What the HTTP layer needs from the application, which it knows nothing else of: per request
/// head, the matched route (body limit and log label), and later the answer.
public protocol HTTPResponder: Sendable {
    /// The route of a request, decided from its head before the body is read.
    func match(method: HTTPMethod, path: String) -> MatchedRoute
}

/// A request matched to its route: what the HTTP layer needs before the body arrives (its limit)
/// and after (the code that answers).
public struct MatchedRoute: Sendable {
    /// The largest body this request may have.
    public let bodyLimit: Int
    /// The route for logs, e.g. `POST /p/{push}`; never contains an identifier.
    public let label: String
    let run: @Sendable (APIRequest) async -> APIResponse

    /// A matched route.
    public init(bodyLimit: Int, label: String, run: @escaping @Sendable (APIRequest) async -> APIResponse) {
        self.bodyLimit = bodyLimit
        self.label = label
        self.run = run
    }

    /// Answers the request. Never throws: every failure is an error response.
    public func respond(_ request: APIRequest) async -> APIResponse { await run(request) }
}

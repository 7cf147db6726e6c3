import NIOHTTP1

/// How large a route's request body may be.
enum BodyLimit: Sendable {
    /// `limits.max_payload_bytes`: pushes, subscribe options, and anything without a body.
    case payload
    /// `lists.max_document_bytes`: list documents and merge patches.
    case document
}

/// One row of the route table: method + path pattern → handler, with its body limit and the
/// label the access log shows (identifiers elided: a capability never reaches a log).
struct Route: Sendable {
    let method: HTTPMethod
    let segment: String
    let takesIdentifier: Bool
    let body: BodyLimit
    let label: String
    let handler: @Sendable (APIRequest, Substring?) async throws(APIError) -> APIResponse

    /// A route on a fixed path.
    init(_ method: HTTPMethod, _ pattern: PathPattern<Void>, body: BodyLimit = .payload,
         _ handler: @escaping @Sendable (APIRequest) async throws(APIError) -> APIResponse) {
        self.method = method
        self.segment = pattern.segment
        self.takesIdentifier = false
        self.body = body
        self.label = "\(method.rawValue) /\(pattern.segment)"
        self.handler = { request, _ throws(APIError) in try await handler(request) }
    }

    /// A route on a path with an identifier; a malformed identifier is 404 without a lookup.
    init<Kind>(_ method: HTTPMethod, _ pattern: PathPattern<Identifier<Kind>>, body: BodyLimit = .payload,
               _ handler: @escaping @Sendable (APIRequest, Identifier<Kind>) async throws(APIError) -> APIResponse) {
        self.method = method
        self.segment = pattern.segment
        self.takesIdentifier = true
        self.body = body
        self.label = "\(method.rawValue) /\(pattern.segment)/{\(Kind.name)}"
        self.handler = { request, text throws(APIError) in
            guard let text, let id = Identifier<Kind>(text) else { throw .notFound }
            return try await handler(request, id)
        }
    }
}

/// Finds the route of a request: one dictionary lookup by first segment, then the method.
struct Router: Sendable {
    private let routes: [String: [Route]]
    /// The push body limit in force (`limits.max_payload_bytes`, reloadable).
    private let payloadLimit: @Sendable () -> Int
    private let documentLimit: Int

    init(_ table: [Route], payloadLimit: @escaping @Sendable () -> Int, documentLimit: Int) {
        self.routes = Dictionary(grouping: table) { Self.key($0.segment, identified: $0.takesIdentifier) }
        self.payloadLimit = payloadLimit
        self.documentLimit = max(documentLimit, LimitsConfig().maxPayloadBytes)
    }

    private static func key(_ segment: some StringProtocol, identified: Bool) -> String {
        identified ? "\(segment)/" : String(segment)
    }

    func match(method: HTTPMethod, path: String) -> MatchedRoute {
        let parts = path.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: true)
        guard (1...2).contains(parts.count), let candidates = routes[Self.key(parts[0], identified: parts.count == 2)] else {
            return MatchedRoute(bodyLimit: payloadLimit(), label: "unknown") { _ in APIError.notFound.response }
        }
        guard let route = candidates.first(where: { $0.method == method }) else {
            let allowed = candidates.map(\.method)
            return MatchedRoute(bodyLimit: payloadLimit(), label: "\(candidates[0].label.split(separator: " ").last ?? "")") { _ in
                APIError.methodNotAllowed(allowed).response
            }
        }
        let identifier = parts.count == 2 ? parts[1] : nil
        let handler = route.handler
        return MatchedRoute(bodyLimit: route.body == .document ? documentLimit : payloadLimit(), label: route.label) { request in
            do throws(APIError) {
                return try await handler(request, identifier)
            } catch {
                return error.response
            }
        }
    }
}

public import Foundation
public import Pushgate

/// The API as unit tests build it: `https://push.example.net`, the registry loaded from `store`,
/// the real MQTT mapping (topic prefix `webpush`) onto a recording broker, a fixed clock.
public struct TestAPI: Sendable {
    /// The public URL every test uses.
    public static let publicURL = "https://push.example.net"
    /// The fixed time of every request.
    public static let now = Date(timeIntervalSince1970: 1_800_000_000)

    /// The API.
    public let api: PushgateAPI
    /// The delivery under it (for acknowledgements).
    public let delivery: MQTTDelivery
    /// The receipts.
    public let receipts: ReceiptCenter
    /// The registry under it.
    public let registry: Registry

    /// Builds it; `settings` adjusts the service settings, `broadcasts` are the routes in force.
    /// Without `filled` the registry is left serving from the store, as just after a start.
    public init(store: any RegistryStore, broker: RecordingPublisher, broadcasts: BroadcastTable = BroadcastTable(), filled: Bool = true,
                settings adjust: (inout ServiceSettings) -> Void = { _ in }) async throws {
        var settings = ServiceSettings(publicURL: Self.publicURL)
        adjust(&settings)
        let clock: @Sendable () -> Int64 = { Int64(TestAPI.now.timeIntervalSince1970) }
        receipts = try await ReceiptCenter.load(from: store, clock: clock)
        delivery = MQTTDelivery(publisher: broker, topicPrefix: "webpush", secret: try await store.installationSecret(), store: store,
                                observer: receipts, clock: clock)
        registry = filled ? try await Registry.load(from: store) : Registry.open(store)
        api = PushgateAPI(settings: settings, registry: registry, delivery: delivery, receipts: receipts, broadcasts: broadcasts, clock: { TestAPI.now })
    }
}

import ServiceLifecycle

/// Sends held Topic messages again when they are due, and forgets expired ones, once a second
/// until shutdown.
struct HeldMessageResender: Service {
    let delivery: MQTTDelivery

    func run() async throws {
        // The sleep ends at graceful shutdown too, so the service group is not held up.
        while (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: .seconds(1)) })) != nil {
            await delivery.resendDue()
        }
    }
}

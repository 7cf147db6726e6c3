import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The process's heap allocations so far, for `make bench`'s allocations per push.
///
/// Counted only when ordo-one/malloc-interposer's library is preloaded (`LD_PRELOAD`) and
/// `PUSHGATE_COUNT_ALLOCATIONS=1` is set: its counting functions are then found at run time, so
/// an ordinary build neither links nor pays for it. The bench reads the count from
/// `pushgate_process_allocations_total`.
enum ProcessAllocations {
    private typealias Enable = @convention(c) () -> Void
    private typealias Statistics = @convention(c) (UnsafeMutablePointer<Int64>?, UnsafeMutablePointer<Int64>?, UnsafeMutablePointer<Int64>?,
                                                   UnsafeMutablePointer<Int64>?, UnsafeMutablePointer<Int64>?, UnsafeMutablePointer<Int64>?) -> Void

    /// The interposer's statistics function, once counting has been switched on; `nil` when
    /// not asked for or not preloaded.
    private static let statistics: Statistics? = {
        guard ProcessInfo.processInfo.environment["PUSHGATE_COUNT_ALLOCATIONS"] == "1",
              let enable = dlsym(nil, "malloc_interposer_enable"),
              let statistics = dlsym(nil, "malloc_interposer_get_stats")
        else { return nil }
        unsafeBitCast(enable, to: Enable.self)()
        return unsafeBitCast(statistics, to: Statistics.self)
    }()

    /// Allocations (`malloc`, `calloc`, `realloc`, aligned forms) since counting began, or `nil`.
    static var count: Int64? {
        guard let statistics else { return nil }
        // It writes every field.
        var count: Int64 = 0, bytes: Int64 = 0, small: Int64 = 0, large: Int64 = 0, frees: Int64 = 0, freedBytes: Int64 = 0
        statistics(&count, &bytes, &small, &large, &frees, &freedBytes)
        return count
    }
}

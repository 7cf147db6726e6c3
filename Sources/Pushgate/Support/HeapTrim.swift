#if canImport(Glibc)
import Glibc
#endif

/// Gives the heap's free memory back to the kernel (glibc's `malloc_trim`).
///
/// Loading a large registry builds the snapshot and grows the index's dictionaries step by step;
/// what is freed afterwards stays in the process's heap (glibc returns only the top of the heap
/// by itself) and would count as resident memory for as long as the process runs. Called once
/// after a load. (Found with `dlsym`: the Glibc module does not export `malloc.h`.)
enum HeapTrim {
    private typealias Trim = @convention(c) (Int) -> Int32

    private static let trim: Trim? = dlsym(nil, "malloc_trim").map { unsafeBitCast($0, to: Trim.self) }

    static func releaseFreeMemory() {
        _ = trim?(0)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Many connections need many descriptors: lifts the soft open-file limit to the hard one and warns
/// when even that is below `needed` (then --processes spreads the connections over several processes).
func raiseFileLimit(needed: Int, log: (String) -> Void) {
    var limit = rlimit()
    #if canImport(Glibc)
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    let resource = RLIMIT_NOFILE
    #endif
    guard getrlimit(resource, &limit) == 0 else { return }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max
        if setrlimit(resource, &limit) != 0 { _ = getrlimit(resource, &limit) }
    }
    if needed + 64 > Int(clamping: limit.rlim_cur) {
        log("warning: the open-file limit (\(limit.rlim_cur)) is below the \(needed) connections of this process; use --processes")
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Wakes when a plugin directory changes: inotify on Linux, with a 250 ms poll
/// as the fallback (and for directories that do not exist yet).
public final class DirectoryWatcher: Sendable {
    private let descriptor: Int32
    private let directories: [String]

    public init(directories: [String]) {
        self.directories = directories
        for directory in directories {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let fd = inotify_init1(Int32(IN_CLOEXEC) | Int32(IN_NONBLOCK))
        if fd >= 0 {
            let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE)
            for directory in directories { _ = inotify_add_watch(fd, directory, mask) }
        }
        descriptor = fd
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// Blocks until something in a directory may have changed, or `timeout` passes.
    /// Returns after a 30 ms quiet period so a burst of events is one wake-up.
    public func waitForChange(timeout: Duration = .seconds(1)) -> Bool {
        guard descriptor >= 0 else {
            usleep(250_000)
            return true
        }
        let milliseconds = Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&request, 1, milliseconds) > 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 8192)
        repeat {
            while buffer.withUnsafeMutableBytes({ read(descriptor, $0.baseAddress, $0.count) }) > 0 {}
            request.revents = 0
        } while poll(&request, 1, 30) > 0
        return true
    }
}

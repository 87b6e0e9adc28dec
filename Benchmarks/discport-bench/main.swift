// discport-bench: the measurements behind `make bench` (Benchmarks/run.sh).
//
//   discport-bench generate DIR [--count N]
//       writes N (default 5000) CT-like Part 10 files under DIR with discport's
//       writer: 2–6 KB headers (1 in 50 with a long private sequence, so its
//       header exceeds 16 KB), 512×512×16-bit pixel data, explicit VR little
//       endian (1 in 10 implicit VR).
//   discport-bench measure DIR [--width W] [--runs R]
//       walks DIR and, with W tasks at a time (a bounded TaskGroup, each task
//       opening its own file), (a) reads every header with
//       DICOMFile(contentsOf:options: .header), (b) reads the first 4 KB of
//       every file: the I/O floor. Best of R runs each; prints `key value` lines.
//   discport-bench headers DIR
//       (a) on every file, sequentially on one thread: for valgrind/callgrind.
//
// Not part of the installed tool: `make install` copies only `discport`.
#if canImport(Glibc)
import Glibc
#endif
import DICOM
import Foundation

// MARK: - Walking

/// Every regular file under `root`, by readdir (what a media scan does).
func walk(_ root: String) -> [String] {
    var files: [String] = []
    var pending = [root]
    while let dir = pending.popLast() {
        guard let handle = opendir(dir) else { continue }
        defer { closedir(handle) }
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." || name.hasPrefix(".") { continue }
            let path = dir + "/" + name
            switch Int32(entry.pointee.d_type) {
            case Int32(DT_DIR): pending.append(path)
            case Int32(DT_REG): files.append(path)
            default:
                var info = stat()
                if stat(path, &info) == 0 {
                    if (info.st_mode & S_IFMT) == S_IFDIR { pending.append(path) } else if (info.st_mode & S_IFMT) == S_IFREG { files.append(path) }
                }
            }
        }
    }
    return files
}

// MARK: - Bounded parallelism

/// Runs `work` on every path with at most `width` tasks in flight; returns
/// the sum of what the tasks return.
func forEachBounded(_ paths: [String], width: Int, _ work: @escaping @Sendable (String) -> Int) async -> Int {
    await withTaskGroup(of: Int.self) { group in
        var next = 0
        var total = 0
        while next < min(width, paths.count) {
            let path = paths[next]
            group.addTask { work(path) }
            next += 1
        }
        while let value = await group.next() {
            total += value
            if next < paths.count {
                let path = paths[next]
                group.addTask { work(path) }
                next += 1
            }
        }
        return total
    }
}

/// (a): a header read; 1 when it succeeded and stopped at pixel data.
@Sendable func readHeader(_ path: String) -> Int {
    guard let file = try? DICOMFile(contentsOf: path, options: .header) else { return 0 }
    return file.pixelDataOffset != nil ? 1 : 0
}

/// (b): the floor: open, read the first 4 KB, close; 1 when 4 KB came back.
@Sendable func readFloor(_ path: String) -> Int {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    return withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 16) { buffer in
        pread(fd, buffer.baseAddress, 4096, 0) == 4096 ? 1 : 0
    }
}

@inline(never) func headerPass(_ paths: [String]) -> Int {
    var ok = 0
    for path in paths { ok += readHeader(path) }
    return ok
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func measure(_ root: String, width: Int, runs: Int) async {
    let clock = ContinuousClock()
    let files = walk(root)
    guard !files.isEmpty else {
        FileHandle.standardError.write(Data("discport-bench: no files under \(root)\n".utf8))
        exit(1)
    }
    print("files \(files.count)")
    print("width \(width)")
    var best: [String: Double] = [:]
    var counts: [String: Int] = [:]
    // Alternate the two so neither profits from running second.
    for _ in 0..<runs {
        for (name, work) in [("header", readHeader as @Sendable (String) -> Int), ("floor", readFloor)] {
            var ok = 0
            let elapsed = await clock.measure {
                let paths = walk(root)
                ok = await forEachBounded(paths, width: width, work)
            }
            best[name] = min(best[name] ?? .infinity, seconds(elapsed))
            counts[name] = ok
        }
    }
    print("header_ok \(counts["header"] ?? 0)")
    print("floor_ok \(counts["floor"] ?? 0)")
    print(String(format: "header_seconds %.4f", best["header"]!))
    print(String(format: "floor_seconds %.4f", best["floor"]!))
}

// MARK: - Generating

/// A deterministic generator so every machine benches the same tree.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func ctFile(index: Int, series: Int, pixels: Data, random: inout SplitMix) throws -> DICOMFile {
    var ds = Dataset()
    func text(_ group: UInt16, _ element: UInt16, _ vr: VR, _ value: String) throws {
        try ds.setString(value, vr: vr, for: Tag(group, element))
    }
    func us(_ group: UInt16, _ element: UInt16, _ value: Int) {
        ds.setIntegers([value], vr: .US, for: Tag(group, element))
    }
    let study = "1.2.826.0.1.3680043.9.7433.1.\(series / 10)"
    let seriesUID = study + ".\(series)"
    let instance = seriesUID + ".\(index)"
    try text(0x0008, 0x0005, .CS, "ISO_IR 100")
    try text(0x0008, 0x0008, .CS, "ORIGINAL\\PRIMARY\\AXIAL")
    try text(0x0008, 0x0012, .DA, "20240115")
    try text(0x0008, 0x0013, .TM, "101530.123456")
    try text(0x0008, 0x0016, .UI, "1.2.840.10008.5.1.4.1.1.2")
    try text(0x0008, 0x0018, .UI, instance)
    for element: UInt16 in [0x0020, 0x0021, 0x0022, 0x0023] { try text(0x0008, element, .DA, "20240115") }
    for element: UInt16 in [0x0030, 0x0031, 0x0032, 0x0033] { try text(0x0008, element, .TM, "101530") }
    try text(0x0008, 0x0050, .SH, "ACC\(series / 10)")
    try text(0x0008, 0x0060, .CS, "CT")
    try text(0x0008, 0x0070, .LO, "ACME Medical Systems")
    try text(0x0008, 0x0080, .LO, "General Hospital Radiology")
    try text(0x0008, 0x0090, .PN, "Referring^Doctor^^Dr.")
    try text(0x0008, 0x1010, .SH, "CT01")
    try text(0x0008, 0x1030, .LO, "CT CHEST ABDOMEN PELVIS WITH CONTRAST")
    try text(0x0008, 0x103E, .LO, "AXIAL 1.25MM SOFT TISSUE")
    try text(0x0008, 0x1090, .LO, "Scanner 3000")
    var references: [Dataset] = []
    for r in 0..<2 {
        var item = Dataset()
        try item.setString("1.2.840.10008.5.1.4.1.1.2", vr: .UI, for: Tag(0x0008, 0x1150))
        try item.setString(seriesUID + ".\(max(0, index - 1 - r))", vr: .UI, for: Tag(0x0008, 0x1155))
        references.append(item)
    }
    ds.setSequence(references, for: Tag(0x0008, 0x1140), undefinedLength: index % 2 == 0)
    // Private group 0009/0019: the header's size varies between 2 and 6 KB.
    try text(0x0009, 0x0010, .LO, "ACME_CT_PRIVATE")
    let privateCount = Int.random(in: 8...110, using: &random)
    for p in 0..<privateCount {
        try text(0x0019, 0x1000 + UInt16(p), .LO, "value \(p) \(String(repeating: "x", count: Int.random(in: 4...40, using: &random)))")
    }
    try text(0x0019, 0x0010, .LO, "ACME_CT_PRIVATE")
    try text(0x0010, 0x0010, .PN, "Doe^Jane^^Ms.")
    try text(0x0010, 0x0020, .LO, "PAT\(series / 10)")
    try text(0x0010, 0x0030, .DA, "19600101")
    try text(0x0010, 0x0040, .CS, "F")
    try text(0x0010, 0x1010, .AS, "064Y")
    try text(0x0018, 0x0015, .CS, "CHEST")
    try text(0x0018, 0x0022, .CS, "HELICAL MODE")
    try text(0x0018, 0x0050, .DS, "1.25")
    try text(0x0018, 0x0060, .DS, "120")
    try text(0x0018, 0x0088, .DS, "1.25")
    try text(0x0018, 0x0090, .DS, "500")
    try text(0x0018, 0x1020, .LO, "SW 12.3.4")
    try text(0x0018, 0x1100, .DS, "360")
    try text(0x0018, 0x1110, .DS, "949.075012")
    try text(0x0018, 0x1111, .DS, "541")
    try text(0x0018, 0x1120, .DS, "0")
    try text(0x0018, 0x1130, .DS, "175")
    try text(0x0018, 0x1140, .CS, "CW")
    try text(0x0018, 0x1150, .IS, "800")
    try text(0x0018, 0x1151, .IS, "250")
    try text(0x0018, 0x1152, .IS, "200")
    try text(0x0018, 0x1160, .SH, "BODY FILTER")
    try text(0x0018, 0x1170, .IS, "30000")
    try text(0x0018, 0x1190, .DS, "0.7")
    try text(0x0018, 0x1210, .SH, "STANDARD")
    try text(0x0018, 0x5100, .CS, "FFS")
    try text(0x0020, 0x000D, .UI, study)
    try text(0x0020, 0x000E, .UI, seriesUID)
    try text(0x0020, 0x0010, .SH, "\(series / 10)")
    try text(0x0020, 0x0011, .IS, "\(series)")
    try text(0x0020, 0x0012, .IS, "1")
    try text(0x0020, 0x0013, .IS, "\(index)")
    try text(0x0020, 0x0032, .DS, "-250\\-250\\\(-Double(index) * 1.25)")
    try text(0x0020, 0x0037, .DS, "1\\0\\0\\0\\1\\0")
    try text(0x0020, 0x0052, .UI, study + ".0")
    try text(0x0020, 0x1040, .LO, "")
    try text(0x0020, 0x1041, .DS, "\(-Double(index) * 1.25)")
    us(0x0028, 0x0002, 1)
    try text(0x0028, 0x0004, .CS, "MONOCHROME2")
    us(0x0028, 0x0010, 512)
    us(0x0028, 0x0011, 512)
    try text(0x0028, 0x0030, .DS, "0.976562\\0.976562")
    us(0x0028, 0x0100, 16)
    us(0x0028, 0x0101, 12)
    us(0x0028, 0x0102, 11)
    us(0x0028, 0x0103, 0)
    try text(0x0028, 0x1050, .DS, "40")
    try text(0x0028, 0x1051, .DS, "400")
    try text(0x0028, 0x1052, .DS, "-1024")
    try text(0x0028, 0x1053, .DS, "1")
    if index % 50 == 7 {
        // A long private sequence (dose reports, raw-data references…):
        // this header exceeds the 16 KB first probe.
        try text(0x0029, 0x0010, .LO, "ACME_CT_RAW")
        var items: [Dataset] = []
        for i in 0..<24 {
            var item = Dataset()
            try item.setString("record \(i)", vr: .LO, for: Tag(0x0029, 0x1001))
            item.set(DataElement(tag: Tag(0x0029, 0x1002), vr: .OB, bytes: Data(repeating: UInt8(i), count: 1024)))
            items.append(item)
        }
        ds.setSequence(items, for: Tag(0x0029, 0x1010), undefinedLength: true)
    }
    var pixelData = pixels
    pixelData.withUnsafeMutableBytes { raw in
        raw.storeBytes(of: UInt32(truncatingIfNeeded: index).littleEndian, toByteOffset: 0, as: UInt32.self)
    }
    ds.set(DataElement(tag: Tag(0x7FE0, 0x0010), vr: .OW, bytes: pixelData))
    return DICOMFile(dataset: ds, transferSyntax: index % 10 == 3 ? .implicitVRLittleEndian : .explicitVRLittleEndian)
}

func generate(_ root: String, count: Int) throws {
    var random = SplitMix(state: 20_240_115)
    // One 512×512×16-bit CT-like slice: a disc of tissue in air, noise.
    var words = [UInt16](repeating: 0, count: 512 * 512)
    for y in 0..<512 {
        for x in 0..<512 {
            let dx = x - 256, dy = y - 256
            let inside = dx * dx + dy * dy < 220 * 220
            words[y * 512 + x] = UInt16(inside ? 1000 + Int.random(in: 0..<80, using: &random) : Int.random(in: 0..<20, using: &random))
        }
    }
    let pixels = words.withUnsafeBytes { Data($0) }
    let perSeries = 100
    var headerBytes: [Int] = []
    for index in 0..<count {
        let series = index / perSeries
        let folder = String(format: "%@/PAT%03d/STU%03d/SER%04d", root, series / 10, series / 10, series)
        if index % perSeries == 0 {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        let file = try ctFile(index: index, series: series, pixels: pixels, random: &random)
        let data = try DICOMWriter.encode(file)
        let path = String(format: "%@/IM%06d", folder, index % perSeries)
        guard FileManager.default.createFile(atPath: path, contents: data) else {
            throw DICOMError(.io, "cannot write", path: path)
        }
        headerBytes.append(data.count - pixels.count)
    }
    let sorted = headerBytes.sorted()
    print("generated \(count) files; header bytes min \(sorted.first!) median \(sorted[sorted.count / 2]) max \(sorted.last!); over 16 KB: \(sorted.filter { $0 > 16_384 }.count)")
}

// MARK: - Main

func option(_ name: String, default value: Int) -> Int {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) { return v }
    return value
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    print("usage: discport-bench generate DIR [--count N] | measure DIR [--width W] [--runs R]")
    exit(2)
}
switch arguments[1] {
case "generate":
    do {
        try generate(arguments[2], count: option("--count", default: 5000))
    } catch {
        FileHandle.standardError.write(Data("discport-bench: \(error)\n".utf8))
        exit(1)
    }
case "measure":
    await measure(arguments[2], width: option("--width", default: 4), runs: option("--runs", default: 3))
case "headers":
    // Profiling aid (valgrind cannot follow the TaskGroup): (a) on every
    // file, one at a time, on the calling thread.
    // One warm-up file first (one-time dictionary tables); profile only
    // headerPass: valgrind --tool=callgrind --toggle-collect='*headerPass*'.
    let paths = walk(arguments[2])
    _ = paths.prefix(20).reduce(0) { $0 + readHeader($1) }
    let ok = headerPass(paths)
    print("headers \(ok) of \(paths.count)")
case "cpu":
    // The CPU time of (a) and (b), one file at a time on this thread (best
    // of R): the ratio holds up when other work loads the machine, unlike
    // the wall clock of `measure`.
    let paths = walk(arguments[2])
    let runs = option("--runs", default: 3)
    func threadSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
    for (name, work) in [("header", readHeader as (String) -> Int), ("floor", readFloor)] {
        var best = Double.infinity
        for _ in 0..<runs {
            let start = threadSeconds()
            var ok = 0
            for path in paths { ok += work(path) }
            best = min(best, threadSeconds() - start)
            precondition(ok == paths.count, "\(name): \(ok) of \(paths.count)")
        }
        print(String(format: "%@_cpu_seconds %.4f", name, best))
    }
case "parse":
    // Profiling aid: the parse of one file's first 16 KB, N times, from memory.
    let data = try! Data(contentsOf: URL(fileURLWithPath: arguments[2])).prefix(16_384)
    let count = option("--count", default: 100_000)
    let clock = ContinuousClock()
    var elements = 0
    let elapsed = clock.measure {
        for _ in 0..<count {
            let file = try! DICOMFile(size: data.count + 1, path: nil, options: .header) { n throws(DICOMError) in data.prefix(n) }
            elements += file.dataset.count
        }
    }
    print(String(format: "parse %.2f µs per header (%d elements)", seconds(elapsed) / Double(count) * 1e6, elements / count))
default:
    print("unknown command \(arguments[1])")
    exit(2)
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import DICOM
@testable import Store

/// The issue's bench, store side: N files (default 20,000 × 32 KiB in 200
/// folders) imported with 8 workers, against `cp -r` of the same tree.
/// Off by default: `DISCPORT_STORE_BENCH=1 swift test --filter StoreBenchmark`
/// (`DISCPORT_STORE_BENCH_FILES`, `DISCPORT_STORE_BENCH_BYTES` to resize).
@Suite("StoreBenchmark")
struct StoreBenchmark {
    static let environment = ProcessInfo.processInfo.environment

    @Test(.enabled(if: environment["DISCPORT_STORE_BENCH"] != nil))
    func importVersusCopy() async throws {
        let count = Int(Self.environment["DISCPORT_STORE_BENCH_FILES"] ?? "") ?? 20_000
        let bytes = Int(Self.environment["DISCPORT_STORE_BENCH_BYTES"] ?? "") ?? 32_768
        let root = TemporaryHome()
        let source = root.path + "/source"
        var paths: [String] = []
        paths.reserveCapacity(count)
        for n in 0..<count {
            let folder = source + "/S\(n / 100)"
            if n % 100 == 0 { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            let data = try Fixture.part10(Fixture.dataset(
                sop: Fixture.uid(n), series: "1.2.826.0.1.3680043.2.1125.2.\(n / 500)",
                study: "1.2.826.0.1.3680043.2.1125.1.\(n / 2000)", patientID: "PAT-\(n / 2000)",
                instanceNumber: n, pixel: UInt8(n % 251), pixelBytes: bytes))
            let path = folder + "/IM\(n)"
            try data.write(to: URL(fileURLWithPath: path))
            paths.append(path)
        }
        sync()

        func seconds(_ body: () async throws -> Void) async rethrows -> Double {
            let start = ContinuousClock.now
            try await body()
            let elapsed = ContinuousClock.now - start
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        }
        /// VmHWM (peak resident set) from /proc/self/status.
        func maxRSSMiB() -> Double {
            guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
                  let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return -1 }
            return kib / 1024
        }

        let copy = try await seconds {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/cp")
            process.arguments = ["-r", source, root.path + "/copy"]
            try process.run()
            process.waitUntilExit()
        }
        let copySync = try await seconds {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "cp -r '\(source)' '\(root.path)/copy2' && sync"]
            try process.run()
            process.waitUntilExit()
        }

        let rssBefore = maxRSSMiB()
        // Reset the peak (VmHWM) so the figure below is the imports' own.
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
        var results: [String] = []
        for synchronous in [true, false] {
            let store = try InstanceStore(home: root.path + "/store-\(synchronous)", options: .init(synchronous: synchronous))
            let run = try store.beginImport(ImportSource(location: source, kind: "folder"))
            let shared = paths
            let time = try await seconds {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    var next = 0
                    func add() {
                        let path = shared[next]
                        next += 1
                        group.addTask {
                            // As the import job will: header read, then a streamed store.
                            let header = try DICOMFile(contentsOf: path, options: .header)
                            _ = try store.store(.file(atPath: path), summary: InstanceSummary(file: header), importID: run)
                        }
                    }
                    for _ in 0..<min(8, shared.count) { add() }
                    while try await group.next() != nil {
                        if next < shared.count { add() }
                    }
                }
                try store.finishImport(run)
            }
            let record = try #require(try store.importRecord(id: run))
            #expect(record.stored == count)
            results.append("store synchronous=\(synchronous): \(String(format: "%.2f", time)) s (\(String(format: "%.2f", time / copy))× cp -r)")
        }
        let rssAfter = maxRSSMiB()
        print("""
            StoreBenchmark: \(count) files × \(bytes) bytes
              cp -r: \(String(format: "%.2f", copy)) s; cp -r + sync: \(String(format: "%.2f", copySync)) s
              \(results.joined(separator: "\n  "))
              peak RSS: \(String(format: "%.1f", rssBefore)) MiB before the imports, \(String(format: "%.1f", rssAfter)) MiB after
            """)
    }
}

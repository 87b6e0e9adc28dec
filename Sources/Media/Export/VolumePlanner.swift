import Foundation

/// Splits an export into volumes that each fit one medium (`--split`),
/// every volume a complete file-set.
///
/// The rule, in order:
/// 1. a study that fits on one medium stays whole;
/// 2. a study larger than one medium is cut between series (series in
///    their order, as many as fit, then the next part);
/// 3. a single series larger than one medium is refused (``VolumePlanError``):
///    discport never cuts a series.
///
/// The parts (whole studies and study parts) are packed first-fit
/// decreasing, the largest first, into the first volume with room, which
/// gives few volumes; volumes are then numbered by the earliest item they
/// hold, so volume 1 starts with the first study of the file-set order.
///
/// Sizes are estimates of what the written medium takes, made
/// conservatively from ``Overhead``: every file rounded up to a 2 KiB
/// sector plus its DICOMDIR record and directory entries, per series and
/// per study the folders, records, thumbnail and web page, and a fixed
/// part (ISO system area and descriptors, README.TXT, INDEX.HTM, a viewer).
public enum VolumePlanner {
    /// One instance to place.
    public struct Item: Sendable, Hashable {
        public var studyUID: String
        public var seriesUID: String
        /// Bytes of the file as it will be written (before overhead).
        public var bytes: Int64
    }

    /// What a medium spends besides the files' bytes.
    public struct Overhead: Sendable, Hashable {
        public var fixed: Int64
        public var perFile: Int64
        public var perSeries: Int64
        public var perStudy: Int64

        /// For an ISO 9660 + Joliet image with IHE PDI content (also used
        /// for folders and zips, which take less): a file's last sector
        /// (2 KiB), its DICOMDIR record (≤ 1 KiB with the Table H.3-2 keys)
        /// and its two directory entries; per series and per study two
        /// directory extents, the record, a thumbnail or a study page
        /// (≤ 16 KiB); 2 MB fixed plus `extra` (a viewer folder). With
        /// `xdm`, each file's DocumentEntry in METADATA.XML and, per volume,
        /// a submission set (``xdmPerDocument``, ``xdmPerPatient``). A UDF
        /// image (`udf`, BD) takes a 2 KiB file entry per file and folder,
        /// written twice (the metadata and its mirror).
        public static func referralMedium(extra: Int64 = 0, xdm: Bool = false, udf: Bool = false) -> Overhead {
            let entry: Int64 = udf ? 2 * 2048 : 0
            return Overhead(fixed: 2_000_000 + extra + (xdm ? xdmPerPatient : 0),
                            perFile: 2048 + 1024 + 256 + entry + (xdm ? xdmPerDocument : 0),
                            perSeries: 4096 + 1024 + 16384 + entry, perStudy: 4096 + 1024 + 16384 + entry)
        }

        /// Bytes an IHE XDM DocumentEntry takes in METADATA.XML, with room:
        /// about 4 KB as XDMWriter writes it (slots, classifications, the
        /// patient's name in UTF-8, size and SHA-1).
        public static let xdmPerDocument: Int64 = 5 * 1024
        /// A submission set, its association and the XML around the entries.
        /// Counted once per volume; a volume of several patients (each its
        /// own SUBSETnn) has room enough in the per-study overhead.
        public static let xdmPerPatient: Int64 = 16 * 1024
    }

    /// One planned volume: indexes into the items, ascending.
    public struct Volume: Sendable, Hashable {
        public var items: [Int]
        /// Estimated bytes on the medium, overhead included.
        public var bytes: Int64
        public init(items: [Int], bytes: Int64) {
            self.items = items
            self.bytes = bytes
        }
    }

    /// Estimated bytes on one medium holding all of `items`.
    public static func estimate(_ items: [Item], overhead: Overhead) -> Int64 {
        overhead.fixed + cost(of: Array(items.indices), in: items, overhead: overhead)
    }

    /// Packs `items` into volumes of at most `capacity` bytes each.
    public static func plan(_ items: [Item], capacity: Int64, overhead: Overhead) throws(VolumePlanError) -> [Volume] {
        let room = capacity - overhead.fixed
        guard room > 0 else {
            throw VolumePlanError("a medium of \(VolumePlanError.size(capacity)) leaves no room for files after the \(VolumePlanError.size(overhead.fixed)) every volume needs (README, web pages, ISO structures)")
        }
        // Studies in order of first appearance, their series likewise.
        var studyOrder: [String] = []
        var seriesOrder: [String: [String]] = [:]
        var itemsBySeries: [String: [Int]] = [:]
        for (index, item) in items.enumerated() {
            if seriesOrder[item.studyUID] == nil { studyOrder.append(item.studyUID); seriesOrder[item.studyUID] = [] }
            if itemsBySeries[item.seriesUID] == nil { seriesOrder[item.studyUID]!.append(item.seriesUID) }
            itemsBySeries[item.seriesUID, default: []].append(index)
        }

        // The parts: whole studies, or studies cut between series.
        var parts: [(items: [Int], cost: Int64)] = []
        for study in studyOrder {
            let all = seriesOrder[study]!.flatMap { itemsBySeries[$0]! }
            let whole = cost(of: all, in: items, overhead: overhead)
            if whole <= room { parts.append((all, whole)); continue }
            var current: [Int] = []
            for series in seriesOrder[study]! {
                let members = itemsBySeries[series]!
                let alone = cost(of: members, in: items, overhead: overhead)
                if alone > room {
                    let largest = members.max { items[$0].bytes < items[$1].bytes }!
                    let single = cost(of: [largest], in: items, overhead: overhead)
                    if single > room {
                        throw VolumePlanError("a single instance of series \(series) (\(VolumePlanError.size(items[largest].bytes)); with its folders, DICOMDIR records and web page about \(VolumePlanError.size(single))) does not fit in the \(VolumePlanError.size(room)) a medium of \(VolumePlanError.size(capacity)) leaves for files: choose a larger medium (--media dvd, dvd-dl, bd, usb) or --capacity")
                    }
                    throw VolumePlanError("series \(series) (\(members.count) instances) takes about \(VolumePlanError.size(alone)), more than one medium holds (\(VolumePlanError.size(capacity)), \(VolumePlanError.size(room)) for files); discport does not cut a series: choose a larger medium (--media dvd, dvd-dl, bd, usb) or --capacity")
                }
                if !current.isEmpty, cost(of: current + members, in: items, overhead: overhead) > room {
                    parts.append((current, cost(of: current, in: items, overhead: overhead)))
                    current = []
                }
                current += members
            }
            if !current.isEmpty { parts.append((current, cost(of: current, in: items, overhead: overhead))) }
        }

        // First-fit decreasing (stable: equal costs keep their order).
        let order = parts.indices.sorted { parts[$0].cost != parts[$1].cost ? parts[$0].cost > parts[$1].cost : $0 < $1 }
        // A part is one study or part of one: joining a volume that holds
        // the same study saves that study's overhead.
        var volumes: [(items: [Int], cost: Int64, studies: Set<String>)] = []
        for index in order {
            let part = parts[index]
            let study = items[part.items[0]].studyUID
            func joined(_ volume: (items: [Int], cost: Int64, studies: Set<String>)) -> Int64 {
                volume.cost + part.cost - (volume.studies.contains(study) ? overhead.perStudy : 0)
            }
            if let target = volumes.indices.first(where: { joined(volumes[$0]) <= room }) {
                volumes[target].cost = joined(volumes[target])
                volumes[target].items += part.items
                volumes[target].studies.insert(study)
            } else {
                volumes.append((part.items, part.cost, [study]))
            }
        }
        return volumes.map { Volume(items: $0.items.sorted(), bytes: overhead.fixed + $0.cost) }
            .sorted { $0.items[0] < $1.items[0] }
    }

    /// Bytes of `indexes` on a medium (without the fixed part): files, and
    /// each distinct series and study once.
    static func cost(of indexes: [Int], in items: [Item], overhead: Overhead) -> Int64 {
        var bytes: Int64 = 0
        var series: Set<String> = []
        var studies: Set<String> = []
        for index in indexes {
            bytes += items[index].bytes + overhead.perFile
            series.insert(items[index].seriesUID)
            studies.insert(items[index].studyUID)
        }
        return bytes + Int64(series.count) * overhead.perSeries + Int64(studies.count) * overhead.perStudy
    }
}

/// Why an export cannot be split into volumes.
public struct VolumePlanError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// `700 MB`, `4.70 GB`, `2.22 MB`, `12.5 KB`: decimal units, as media
    /// are sold, three significant digits (enough to tell sizes apart).
    public static func size(_ bytes: Int64) -> String {
        for (unit, scale) in [("GB", 1e9), ("MB", 1e6), ("KB", 1e3)] where Double(bytes) >= scale {
            let value = Double(bytes) / scale
            return String(format: value < 10 ? "%.2f %@" : value < 100 ? "%.1f %@" : "%.0f %@", value, unit)
        }
        return "\(bytes) B"
    }
}

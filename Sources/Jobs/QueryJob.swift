import DICOM
import Foundation
import Network

/// What `discport find` asks a node.
public struct QueryRequest: Sendable {
    public enum Level: String, Sendable, CaseIterable { case patient, study, series, worklist }

    public var level: Level
    /// Patient root or study root; nil: patient root for `.patient`, study
    /// root otherwise (the worklist has its own model).
    public var model: FindQuery.Model?
    /// Matching keys ("" = return the attribute).
    public var keys: [(tag: Tag, value: String)]
    /// (0008,0005) of the identifier: `["ISO_IR 192"]` or `["", "ISO 2022 IR 87"]`.
    public var characterSet: [String]
    /// Stop after this many matches (C-CANCEL; QIDO-RS `limit`).
    public var limit: Int?

    public init(level: Level, model: FindQuery.Model? = nil, keys: [(tag: Tag, value: String)] = [],
                characterSet: [String] = ["ISO_IR 192"], limit: Int? = nil) {
        self.level = level
        self.model = model
        self.keys = keys
        self.characterSet = characterSet
        self.limit = limit
    }

    /// The C-FIND query.
    public var findQuery: FindQuery {
        let model: FindQuery.Model = level == .worklist ? .modalityWorklist : (self.model ?? (level == .patient ? .patientRoot : .studyRoot))
        return FindQuery(model: model, level: FindQuery.Level(rawValue: level.rawValue.uppercased()), keys: keys,
                         characterSet: characterSet)
    }

    /// The same search as QIDO-RS: resource, query parameters (keywords)
    /// and the fields to include. Patient level searches the studies (one
    /// answer per patient is kept); the worklist has no QIDO-RS.
    public func qido() throws(QueryError) -> (resource: String, keys: [(String, String)], includeFields: [String]) {
        let study = keys.first { $0.tag == .studyInstanceUID }?.value
        let resource: String
        switch level {
        case .patient, .study: resource = "studies"
        case .series: resource = study.map { "studies/\($0)/series" } ?? "series"
        case .worklist: throw QueryError("a DICOMweb node has no Modality Worklist (C-FIND only)")
        }
        let query = keys.filter { !(level == .series && $0.tag == .studyInstanceUID && study != nil) }.map { key in
            (DataDictionary.entry(for: key.tag)?.keyword ?? String(format: "%04X%04X", key.tag.group, key.tag.element), key.value)
        }
        let fields = level == .series ? ["0008103E", "00201209"] : ["00081030", "00080061", "00100030", "00100040"]
        return (resource, query, fields)
    }
}

/// The answers of a query, as the node gave them.
public enum QueryAnswers: Sendable {
    /// C-FIND identifiers (decoded with their character sets).
    case datasets([Dataset])
    /// QIDO-RS: a DICOM JSON array (for `.patient`, one object per Patient ID).
    case json(Data)

    public var count: Int {
        switch self {
        case .datasets(let rows): rows.count
        case .json(let data): ((try? JSONSerialization.jsonObject(with: data)) as? [Any])?.count ?? 0
        }
    }
}

/// `discport find`: C-FIND against a DIMSE node, QIDO-RS against a DICOMweb one.
public struct QueryJob: Sendable {
    public let peer: RemotePeer

    public init(peer: RemotePeer) {
        self.peer = peer
    }

    /// Runs the query. Blocks; throws ``QueryError`` for a request the node
    /// cannot answer (usage), anything else when the node failed it.
    public func run(_ request: QueryRequest) throws -> QueryAnswers {
        if let endpoint = peer.endpoint {
            let (resource, keys, fields) = try request.qido()
            let data = try runBlocking {
                try await DICOMweb.search(endpoint, resource: resource, keys: keys, includeFields: fields, limit: request.limit)
            }
            guard var rows = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
                throw QueryFailure("\(peer.node.name): QIDO-RS answered something else than a JSON array")
            }
            if request.level == .patient {
                var seen = Set<String>()
                rows = rows.filter { row in
                    let id = ((row["00100020"] as? [String: Any])?["Value"] as? [Any])?.first.map { "\($0)" } ?? ""
                    return seen.insert(id).inserted
                }
            }
            return .json(try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys, .withoutEscapingSlashes]))
        }
        let query = request.findQuery
        let parameters = peer.parameters
        let limit = request.limit
        return .datasets(try runBlocking { try await FindSCU.find(query, parameters: parameters, limit: limit) })
    }
}

/// A query the node cannot answer as asked (a usage error).
public struct QueryError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// The node answered something unusable.
public struct QueryFailure: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

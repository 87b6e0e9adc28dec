import DICOM
import Foundation
import Network
import Store

/// `discport listen`: a storage SCP that imports what it receives into the
/// store, through ``InstanceStore/store(_:summary:importID:)`` like an
/// import from a disc (one import run for the whole session; duplicates
/// and conflicts handled by the store).
public final class ListenJob: Sendable {
    public let store: InstanceStore
    public let configuration: DICOMServer.Configuration

    public init(store: InstanceStore, configuration: DICOMServer.Configuration) {
        self.store = store
        self.configuration = configuration
    }

    /// Stores one received data set; the C-STORE-RSP status.
    public static func importReceived(_ instance: ReceivedInstance, store: InstanceStore, importID: Int64?) -> (DIMSEStatus, String?) {
        do {
            let header: DICOMFile
            if instance.transferSyntax.isDeflated {
                let data = try Data(contentsOf: URL(fileURLWithPath: instance.spoolPath))
                header = try DICOMFile(datasetData: data, transferSyntax: instance.transferSyntax)
            } else {
                header = try DICOMFile(contentsOf: instance.spoolPath, options: .header)
            }
            var file = header
            file.transferSyntax = instance.transferSyntax
            var summary = InstanceSummary(file: file)
            if summary.sopClassUID.isEmpty { summary.sopClassUID = instance.sopClassUID }
            if summary.sopInstanceUID.isEmpty { summary.sopInstanceUID = instance.sopInstanceUID }
            guard summary.sopInstanceUID == UID.trimmed(instance.sopInstanceUID) else {
                return (.dataSetMismatch, "the data set's SOP Instance UID \(summary.sopInstanceUID) differs from the command's")
            }
            let source = InstanceSource.file(atPath: instance.spoolPath,
                                             originalPath: "dicom://\(instance.callingAE)@\(instance.peer)/\(summary.sopInstanceUID)",
                                             needsFileMeta: true)
            let result = try store.store(source, summary: summary, importID: importID)
            // What the store did is logged with the instance: a duplicate or a
            // copy kept aside is not an instance stored like the others.
            var notes: [String] = []
            switch result.outcome {
            case .duplicate:
                notes.append("duplicate: the store already has this instance with the same content")
            case .conflict where result.filedUnderAnotherPatient == nil && result.warnings.isEmpty:
                notes.append("conflict: the store has other content under this SOP Instance UID; this copy is kept aside at \(result.path)")
            case .conflict:
                notes.append("conflict: kept aside at \(result.path)")
            default:
                break
            }
            notes += result.warnings
            return (.success, notes.isEmpty ? nil : notes.joined(separator: "; "))
        } catch let error as DICOMError {
            return (.cannotUnderstand, error.description)
        } catch {
            return (.outOfResources, "\(error)")
        }
    }

    /// Starts the SCP; returns the running server (its bound port) and the
    /// import run. Call ``finish(_:importID:)`` when done.
    public func start(events: @escaping @Sendable (ServerEvent) -> Void = { _ in }) async throws -> (DICOMServer, Int64) {
        let importID = try store.beginImport(ImportSource(
            location: "dicom://\(configuration.aeTitle)@\(configuration.host):\(configuration.port)",
            kind: "network", label: configuration.aeTitle, volumeID: nil))
        do {
            return (try await startServer(importID: importID, events: events), importID)
        } catch {
            _ = try? store.finishImport(importID, status: .failed, note: "cannot listen: \(error)")
            throw error
        }
    }

    /// Starts the SCP storing into an import run the caller opened (a C-MOVE
    /// destination for the duration of a retrieve).
    public func startServer(importID: Int64?, events: @escaping @Sendable (ServerEvent) -> Void = { _ in }) async throws -> DICOMServer {
        let store = self.store
        var configuration = self.configuration
        configuration.spoolDirectory = try store.temporaryDirectory()
        let server = DICOMServer(configuration: configuration, events: events) { instance in
            ListenJob.importReceived(instance, store: store, importID: importID)
        }
        try await server.start()
        return server
    }

    /// Stops the server and closes the import run.
    public func finish(_ server: DICOMServer, importID: Int64) async throws {
        await server.stop()
        try store.finishImport(importID, status: .completed)
    }
}

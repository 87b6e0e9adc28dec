import ArgumentParser
import DICOM
import Foundation

@main
struct Discport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "discport",
        abstract: "Move medical images in and out of the clinic on removable media.",
        subcommands: [ScanCommand.self, ImportCommand.self, ConvertCommand.self, MigrateCommand.self, ListCommand.self, ShowCommand.self, PatientsCommand.self, ReassignCommand.self, ExportCommand.self, TranscodeCommand.self, VerifyCommand.self, StoreCommand.self, DumpCommand.self,
                      NodesCommand.self, EchoCommand.self, SendCommand.self, ListenCommand.self, FindCommand.self, GetCommand.self]
    )

    /// Exit status 2 for usage errors (ArgumentParser's default is 64).
    static func main() {
        Terminal.checkBufferedOutputAtExit()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as CLIError {
            Terminal.error(error.message)
            Foundation.exit(error.status)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

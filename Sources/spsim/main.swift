import Foundation
import SPSimCLI

exit(SPSimMain.main(arguments: Array(CommandLine.arguments.dropFirst())))

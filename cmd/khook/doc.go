// Command khook runs the reference khook controller: flags → app → manager.Start, nothing
// else. Its flags, their environment variables and the Helm values that set them are listed
// in docs/configuration.md (a test keeps the two in step); `khook -help` prints them too.
package main

// Command khook runs the reference khook controller: flags → app → manager.Start. Its flags and
// environment variables are listed in the README.
package main

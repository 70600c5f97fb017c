// Package settings reads an event source's settings (ports.Settings, as the event-watcher
// configuration gives them) into typed values, with errors that name the setting and say what
// is wrong. Sources call it from Init; plugins may use it too.
//
//	r := settings.New(s)
//	addr := r.String("listenAddress", ":9095")
//	every := r.Duration("interval", 30*time.Second)
//	if err := r.Err(); err != nil { // also refuses settings that were never read
//		return err
//	}
package settings

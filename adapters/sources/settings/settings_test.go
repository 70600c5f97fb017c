package settings_test

import (
	"strings"
	"testing"
	"time"

	"github.com/khook-dev/khook/adapters/sources/settings"
	"github.com/khook-dev/khook/ports"
)

func TestReader(t *testing.T) {
	type read struct {
		addr     string
		interval time.Duration
		count    int
		verbose  bool
	}
	readAll := func(s ports.Settings) (read, error) {
		r := settings.New(s)
		got := read{
			addr:     r.RequiredString("addr"),
			interval: r.Duration("interval", 30*time.Second),
			count:    r.Int("count", 3),
			verbose:  r.Bool("verbose", false),
		}
		return got, r.Err()
	}
	tests := []struct {
		name     string
		settings ports.Settings
		want     read
		wantErr  []string
	}{
		{"absent optional settings take their defaults", ports.Settings{"addr": ":1"},
			read{addr: ":1", interval: 30 * time.Second, count: 3}, nil},
		{"present settings are read with their types", ports.Settings{"addr": ":1", "interval": "1m", "count": 7, "verbose": true},
			read{addr: ":1", interval: time.Minute, count: 7, verbose: true}, nil},
		{"numbers and booleans may come as strings, as expanded variables do", ports.Settings{"addr": ":1", "count": " 9", "verbose": "true"},
			read{addr: ":1", interval: 30 * time.Second, count: 9, verbose: true}, nil},
		{"a missing required setting is named", nil, read{interval: 30 * time.Second, count: 3},
			[]string{`setting "addr": is required`}},
		{"an empty required setting is named", ports.Settings{"addr": " "}, read{addr: " ", interval: 30 * time.Second, count: 3},
			[]string{`setting "addr": must not be empty`}},
		{"a bad duration says what a duration looks like", ports.Settings{"addr": ":1", "interval": "5 seconds"},
			read{addr: ":1", interval: 30 * time.Second, count: 3},
			[]string{`setting "interval": "5 seconds" is not a duration (e.g. 500ms, 30s, 1m)`}},
		{"a negative duration is refused", ports.Settings{"addr": ":1", "interval": "-1s"},
			read{addr: ":1", interval: 30 * time.Second, count: 3}, []string{`setting "interval": "-1s" must be positive`}},
		{"a value of the wrong type names the type", ports.Settings{"addr": 5, "count": "many", "verbose": 2},
			read{interval: 30 * time.Second, count: 3},
			[]string{`setting "addr": want a string, got 5 (int)`, `setting "count": want a whole number, got "many"`, `setting "verbose": want true or false, got 2 (int)`}},
		{"an unknown setting is refused and the known ones listed", ports.Settings{"addr": ":1", "intervall": "1m"},
			read{addr: ":1", interval: 30 * time.Second, count: 3},
			[]string{`unknown setting "intervall" (known: addr, count, interval, verbose)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(tt.settings)
			if got != tt.want {
				t.Errorf("read %+v, want %+v", got, tt.want)
			}
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.wantErr)
			}
			lines := strings.Split(err.Error(), "\n")
			if strings.Join(lines, "|") != strings.Join(tt.wantErr, "|") {
				t.Errorf("error:\n%v\nwant:\n%s", err, strings.Join(tt.wantErr, "\n"))
			}
		})
	}
}

func TestReaderList(t *testing.T) {
	tests := []struct {
		name     string
		settings ports.Settings
		want     int // items; -1 for nil
		wantErr  string
	}{
		{"an absent list is nil", nil, -1, ""},
		{"a list is returned for the caller to read", ports.Settings{"items": []any{"a", map[string]any{"b": "c"}}}, 2, ""},
		{"a value that is not a list is named", ports.Settings{"items": "a"}, -1, `setting "items": want a list, got "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := settings.New(tt.settings)
			got := r.List("items")
			if (got == nil && tt.want != -1) || (got != nil && len(got) != tt.want) {
				t.Errorf("List = %v, want %d items", got, tt.want)
			}
			if err := r.Err(); (err == nil) != (tt.wantErr == "") || (err != nil && err.Error() != tt.wantErr) {
				t.Errorf("Err() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestReaderValue(t *testing.T) {
	tests := []struct {
		name        string
		settings    ports.Settings
		want        any
		wantPresent bool
	}{
		{"an absent value is not present", nil, nil, false},
		{"a key with no value is not present", ports.Settings{"window": nil}, nil, false},
		{"a value is returned as given, for the caller to check", ports.Settings{"window": 60}, 60, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := settings.New(tt.settings)
			got, present := r.Value("window")
			if got != tt.want || present != tt.wantPresent {
				t.Errorf("Value = %v, %t; want %v, %t", got, present, tt.want, tt.wantPresent)
			}
			if err := r.Err(); err != nil {
				t.Errorf("Err() = %v: a key read with Value is known", err)
			}
		})
	}
}

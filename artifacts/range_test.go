package artifacts_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gosling-ota/gosling/artifacts"
)

func TestParseRange(t *testing.T) {
	const size = 1000
	tests := []struct {
		header  string
		size    int64
		want    []artifacts.Range
		wantErr error
	}{
		{header: "bytes=0-99", size: size, want: []artifacts.Range{{0, 100}}},
		{header: "bytes=500-", size: size, want: []artifacts.Range{{500, 500}}},
		{header: "bytes=-200", size: size, want: []artifacts.Range{{800, 200}}},
		{header: "bytes=-5000", size: size, want: []artifacts.Range{{0, 1000}}},
		{header: "bytes=900-5000", size: size, want: []artifacts.Range{{900, 100}}},
		{header: "bytes=0-99999999999999999999999", size: size, want: []artifacts.Range{{0, 1000}}},
		{header: "bytes=999-999", size: size, want: []artifacts.Range{{999, 1}}},
		{header: "Bytes = 0-0 , 10-19,,-1", size: size, want: []artifacts.Range{{0, 1}, {10, 10}, {999, 1}}},
		{header: "bytes=2000-,0-9", size: size, want: []artifacts.Range{{0, 10}}}, // unsatisfiable parts dropped
		{header: "bytes=1000-", size: size, wantErr: artifacts.ErrUnsatisfiable},
		{header: "bytes=1000-2000", size: size, wantErr: artifacts.ErrUnsatisfiable},
		{header: "bytes=-0", size: size, wantErr: artifacts.ErrUnsatisfiable},
		{header: "bytes=0-", size: 0, wantErr: artifacts.ErrUnsatisfiable},
		{header: "bytes=-10", size: 0, wantErr: artifacts.ErrUnsatisfiable},
		{header: "bytes=5-1", size: size, wantErr: artifacts.ErrInvalidRange},
		{header: "bytes=a-b", size: size, wantErr: artifacts.ErrInvalidRange},
		{header: "bytes=+1-2", size: size, wantErr: artifacts.ErrInvalidRange},
		{header: "bytes=1", size: size, wantErr: artifacts.ErrInvalidRange},
		{header: "bytes=-", size: size, wantErr: artifacts.ErrInvalidRange},
		{header: "bytes=", size: size, wantErr: artifacts.ErrInvalidRange},
		{header: "items=0-1", size: size, wantErr: artifacts.ErrInvalidRange},
		{header: "0-1", size: size, wantErr: artifacts.ErrInvalidRange},
		{header: "bytes=0-1,x", size: size, wantErr: artifacts.ErrInvalidRange},
		{header: "bytes=" + strings.Repeat("0-1,", 17), size: size, wantErr: artifacts.ErrTooManyRanges},
		{header: "bytes=" + strings.Repeat("0-1,", 16), size: size, want: []artifacts.Range{{0, 2}, {0, 2}, {0, 2}, {0, 2}, {0, 2}, {0, 2}, {0, 2}, {0, 2}, {0, 2}, {0, 2}, {0, 2}, {0, 2}, {0, 2}, {0, 2}, {0, 2}, {0, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got, err := artifacts.ParseRange(tt.header, tt.size)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

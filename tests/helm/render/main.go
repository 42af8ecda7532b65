// apmcov-helm-render renders a Helm chart the way `helm template` does, with Helm's own
// engine parts: Go's text/template, the Sprig function library, and Helm's functions
// (include, tpl, required, toYaml, fromYaml, toJson, fromJson, lookup) and objects
// (.Values, .Release, .Chart, .Files, .Capabilities, .Template). There is no helm binary in
// Debian; these are the libraries helm itself is built from (golang-go,
// golang-github-masterminds-sprig-dev, golang-k8s-sigs-yaml-dev).
//
// Input (stdin, JSON):
//
//	{"chart_dir": "helm/apm-coverage", "values": {...coalesced values...},
//	 "release": "apmcov", "namespace": "apm",
//	 "templates": {"t.yaml": "..."}}   // optional: render these instead of the chart's
//
// Values are decoded from JSON, so every number is a float64, as in Helm (values files are
// YAML turned into JSON there too). Value coalescing and the values.schema.json check are
// the caller's (tests/helm/render.py), as they are not part of the template engine.
//
// Output (stdout, JSON): {"files": {"templates/x.yaml": "rendered text", ...}} with the
// files whose name starts with "_" left out, NOTES.txt included. On a template error:
// exit 1 and "Error: <helm's message>" on stderr.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

type input struct {
	ChartDir  string                 `json:"chart_dir"`
	Values    map[string]interface{} `json:"values"`
	Release   string                 `json:"release"`
	Namespace string                 `json:"namespace"`
	Templates map[string]string      `json:"templates"`
}

// files is .Files: the chart's files outside templates/, read on demand.
type files struct{ dir string }

func (f files) Get(name string) string {
	clean := path.Clean("/" + name)[1:]
	if f.dir == "" || strings.HasPrefix(clean, "templates/") {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(f.dir, filepath.FromSlash(clean)))
	if err != nil {
		return ""
	}
	return string(b)
}

type kubeVersion struct{ Version, Major, Minor, GitVersion string }

func (k kubeVersion) String() string { return k.Version }

type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

type capabilities struct {
	KubeVersion kubeVersion
	APIVersions apiVersions
	HelmVersion map[string]string
}

// The defaults of `helm template` without a cluster.
var defaultCapabilities = capabilities{
	KubeVersion: kubeVersion{Version: "v1.20.0", Major: "1", Minor: "20", GitVersion: "v1.20.0"},
	APIVersions: apiVersions{"v1", "apps/v1", "batch/v1", "autoscaling/v2", "policy/v1",
		"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1"},
	HelmVersion: map[string]string{"Version": "v3"},
}

func toYAML(v interface{}) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func toJSON(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

// engine holds one parsed set of templates and renders them, as Helm's engine does.
type engine struct {
	root  *template.Template
	depth int
}

func (e *engine) funcs() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env") // Helm removes these two: a chart must not read the renderer's environment
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	f["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	f["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil // no cluster: what `helm template` returns
	}
	f["include"] = func(name string, data interface{}) (string, error) {
		if e.depth > 1000 {
			return "", fmt.Errorf("rendering template has a nested reference name: %s", name)
		}
		e.depth++
		defer func() { e.depth-- }()
		var buf bytes.Buffer
		if err := e.root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := e.root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %w", text, err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	return f
}

func run(in input) (map[string]string, error) {
	chartMeta := map[string]interface{}{}
	sources := in.Templates
	if in.ChartDir != "" {
		raw, err := os.ReadFile(filepath.Join(in.ChartDir, "Chart.yaml"))
		if err != nil {
			return nil, err
		}
		if err := yaml.Unmarshal(raw, &chartMeta); err != nil {
			return nil, fmt.Errorf("Chart.yaml: %w", err)
		}
		if sources == nil {
			sources = map[string]string{}
			dir := filepath.Join(in.ChartDir, "templates")
			err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
				if err != nil || info.IsDir() {
					return err
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(in.ChartDir, p)
				sources[filepath.ToSlash(rel)] = string(b)
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	name, _ := chartMeta["name"].(string)
	if name == "" {
		name = "chart"
	}
	// Helm's Chart object: the metadata with Go-style capitalised field names.
	chart := map[string]interface{}{}
	for k, v := range chartMeta {
		chart[strings.ToUpper(k[:1])+k[1:]] = v
	}

	e := &engine{}
	e.root = template.New("gotpl").Option("missingkey=zero")
	e.root.Funcs(e.funcs())
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := e.root.New(path.Join(name, n)).Parse(sources[n]); err != nil {
			return nil, err
		}
	}
	out := map[string]string{}
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			continue
		}
		ctx := map[string]interface{}{
			"Values": in.Values,
			"Release": map[string]interface{}{
				"Name": in.Release, "Namespace": in.Namespace, "Service": "Helm",
				"IsInstall": true, "IsUpgrade": false, "Revision": 1,
			},
			"Chart":        chart,
			"Files":        files{in.ChartDir},
			"Capabilities": defaultCapabilities,
			"Template":     map[string]interface{}{"Name": path.Join(name, n), "BasePath": path.Join(name, "templates")},
		}
		var buf bytes.Buffer
		if err := e.root.ExecuteTemplate(&buf, path.Join(name, n), ctx); err != nil {
			return nil, err
		}
		out[n] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return out, nil
}

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(2)
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fmt.Fprintln(os.Stderr, "Error: input is not the expected JSON:", err)
		os.Exit(2)
	}
	if in.Values == nil {
		in.Values = map[string]interface{}{}
	}
	rendered, err := run(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	b, _ := json.Marshal(map[string]interface{}{"files": rendered})
	os.Stdout.Write(b)
}

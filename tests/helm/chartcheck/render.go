// Rendering a Helm 3 chart the way `helm template` does: Go's text/template with sprig's
// functions and Helm's own (include, tpl, toYaml, fromYaml, toJson, required, lookup,
// .Files.Get, .Capabilities.APIVersions.Has). Helm itself is not packaged for Debian; Go,
// text/template and sprig are, and they are what Helm renders with.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

type release struct {
	Name, Namespace, Service string
	IsInstall, IsUpgrade     bool
}

type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

type files struct{ dir string }

func (f files) Get(name string) string {
	b, err := os.ReadFile(filepath.Join(f.dir, name))
	if err != nil {
		return ""
	}
	return string(b)
}

// mergeValues lays `over` onto `base`, maps merged key by key, as helm -f does.
func mergeValues(base, over map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]interface{}); ok {
			if om, ok := v.(map[string]interface{}); ok {
				out[k] = mergeValues(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func readYAMLMap(path string) (map[string]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return m, nil
}

// Rendered: template file name -> its output.
type Rendered map[string]string

func render(chartDir string, valueFiles []string, apis []string) (Rendered, map[string]interface{}, error) {
	chart, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return nil, nil, err
	}
	values, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return nil, nil, err
	}
	for _, f := range valueFiles {
		over, err := readYAMLMap(f)
		if err != nil {
			return nil, nil, err
		}
		values = mergeValues(values, over)
	}
	name, _ := chart["name"].(string)
	top := map[string]interface{}{
		"Values":       values,
		"Release":      release{Name: "bulwark", Namespace: "bulwark-system", Service: "Helm", IsInstall: true},
		"Chart":        map[string]interface{}{"Name": name, "Version": chart["version"], "AppVersion": chart["appVersion"]},
		"Capabilities": map[string]interface{}{"APIVersions": apiVersions(apis), "KubeVersion": map[string]string{"Version": "v1.29.0"}},
		"Files":        files{chartDir},
	}

	root := template.New("chart").Option("missingkey=error") // as `helm lint --strict`
	funcs := sprig.TxtFuncMap()
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var b bytes.Buffer
		err := root.ExecuteTemplate(&b, name, data)
		return b.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var b bytes.Buffer
		err = t.Execute(&b, data)
		return b.String(), err
	}
	funcs["toYaml"] = func(v interface{}) string {
		b, err := yaml.Marshal(v)
		if err != nil {
			return ""
		}
		return strings.TrimSuffix(string(b), "\n")
	}
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		_ = yaml.Unmarshal([]byte(s), &m)
		return m
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	// No cluster to ask: as `helm template`, lookup finds nothing.
	funcs["lookup"] = func(string, string, string, string) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	}
	root.Funcs(funcs)

	paths, _ := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	sort.Strings(paths)
	var names []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		tname := name + "/templates/" + filepath.Base(p)
		if _, err := root.New(tname).Parse(string(b)); err != nil {
			return nil, nil, err
		}
		if !strings.HasPrefix(filepath.Base(p), "_") {
			names = append(names, tname)
		}
	}
	out := Rendered{}
	for _, tname := range names {
		data := mergeValues(top, map[string]interface{}{"Template": map[string]string{"Name": tname, "BasePath": name + "/templates"}})
		var b bytes.Buffer
		if err := root.ExecuteTemplate(&b, tname, data); err != nil {
			return nil, nil, err
		}
		out[tname] = b.String()
	}
	return out, values, nil
}

// chartcheck: renders a Helm chart as `helm template` would and checks the result (see
// render.go and check.go). Usage:
//
//	chartcheck -chart DIR [-values FILE]... [-api-versions a/v1,b/v1] [-out DIR]
//	chartcheck -manifest FILE          (the same checks on a plain manifest, e.g. an example)
//	chartcheck -grafana-rules FILE     (a Grafana dashboard's queries as a Prometheus rules
//	                                    file on stdout, for promtool check rules)
//
// Exit 0: every template rendered and every object passed; 1: the problems are printed.
// -out writes the rendered manifests (manifests.yaml) and every ConfigMap's data files
// (configmap-NAME/KEY), for the caller to check embedded configs with the real loaders.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	chart := flag.String("chart", "", "the chart's directory")
	apis := flag.String("api-versions", "", "API versions the cluster serves beyond the built-in ones")
	out := flag.String("out", "", "where to write the rendered manifests and ConfigMap files")
	manifest := flag.String("manifest", "", "check a plain manifest file instead of a chart")
	grafana := flag.String("grafana-rules", "", "print a Grafana dashboard's queries as recording rules")
	var values repeated
	flag.Var(&values, "values", "a values file laid over values.yaml (repeatable)")
	flag.Parse()
	if *grafana != "" {
		if err := grafanaRules(*grafana); err != nil {
			fmt.Fprintf(os.Stderr, "chartcheck: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if *manifest != "" {
		b, err := os.ReadFile(*manifest)
		if err != nil {
			fmt.Fprintf(os.Stderr, "chartcheck: %v\n", err)
			os.Exit(1)
		}
		objs, problems := parseObjects(Rendered{*manifest: string(b)})
		problems = append(problems, checkObjects(objs, map[string]bool{})...)
		report(objs, problems)
		return
	}
	if *chart == "" {
		fmt.Fprintln(os.Stderr, "chartcheck: -chart DIR is required")
		os.Exit(2)
	}
	var versions []string
	if *apis != "" {
		versions = strings.Split(*apis, ",")
	}
	rendered, vals, err := render(*chart, values, versions)
	if err != nil {
		fmt.Fprintf(os.Stderr, "chartcheck: render: %v\n", err)
		os.Exit(1)
	}
	objs, problems := parseObjects(rendered)
	external := map[string]bool{}
	if s := str(vals, "auth", "existingSecret"); s != "" {
		external["Secret/"+s] = true
	}
	problems = append(problems, checkObjects(objs, external)...)
	if *out != "" {
		if err := write(*out, rendered, objs); err != nil {
			fmt.Fprintf(os.Stderr, "chartcheck: %v\n", err)
			os.Exit(1)
		}
	}
	report(objs, problems)
}

func report(objs []object, problems []string) {
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Println(p)
		}
		os.Exit(1)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[str(o, "kind")]++
	}
	var summary []string
	for k, n := range kinds {
		summary = append(summary, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(summary)
	fmt.Printf("chartcheck: %d objects passed (%s)\n", len(objs), strings.Join(summary, ", "))
}

func write(dir string, rendered Rendered, objs []object) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var names []string
	for n := range rendered {
		names = append(names, n)
	}
	sort.Strings(names)
	var all strings.Builder
	for _, n := range names {
		fmt.Fprintf(&all, "---\n# Source: %s\n%s\n", n, rendered[n])
	}
	if err := os.WriteFile(filepath.Join(dir, "manifests.yaml"), []byte(all.String()), 0o644); err != nil {
		return err
	}
	for _, o := range objs {
		if str(o, "kind") != "ConfigMap" {
			continue
		}
		sub := filepath.Join(dir, "configmap-"+str(o, "metadata", "name"))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		for k, v := range stringMap(o, "data") {
			if err := os.WriteFile(filepath.Join(sub, k), []byte(v), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// grafanaRules prints every panel target's query as a recording rule: promtool then parses
// each with Prometheus's own PromQL parser.
func grafanaRules(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		return fmt.Errorf("%s: not JSON: %v", file, err)
	}
	fmt.Println("groups:\n  - name: grafana-panels\n    rules:")
	n := 0
	for _, p := range dash.Panels {
		for _, t := range p.Targets {
			if t.Expr == "" {
				return fmt.Errorf("%s: panel %q has a target with no expr", file, p.Title)
			}
			q, _ := json.Marshal(t.Expr) // a JSON string is a YAML string
			n++
			fmt.Printf("      - record: bulwark:panel_%d\n        expr: %s\n", n, q)
		}
	}
	if n == 0 {
		return fmt.Errorf("%s: no panel has a query", file)
	}
	return nil
}

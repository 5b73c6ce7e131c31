// What a rendered chart must be before a cluster sees it: YAML documents that are
// Kubernetes objects with valid names and labels, whose references (selectors to pod
// labels, probes and Services to named ports, mounts to volumes, volumes and pods to the
// ConfigMaps, Secrets and ServiceAccounts of the release, bindings to roles) all resolve.
package main

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

type object = map[string]interface{}

var (
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	labelValue       = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	labelKey         = regexp.MustCompile(`^([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
)

func path(o interface{}, keys ...string) interface{} {
	for _, k := range keys {
		m, ok := o.(map[string]interface{})
		if !ok {
			return nil
		}
		o = m[k]
	}
	return o
}

func str(o interface{}, keys ...string) string {
	s, _ := path(o, keys...).(string)
	return s
}

func list(o interface{}, keys ...string) []interface{} {
	l, _ := path(o, keys...).([]interface{})
	return l
}

func stringMap(o interface{}, keys ...string) map[string]string {
	out := map[string]string{}
	m, _ := path(o, keys...).(map[string]interface{})
	for k, v := range m {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// Splits rendered templates into objects, in a stable order; an empty document is skipped.
func parseObjects(r Rendered) ([]object, []string) {
	var objs []object
	var problems []string
	var names []string
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasSuffix(n, "NOTES.txt") {
			continue
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(r[n], -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			o := object{}
			if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
				problems = append(problems, fmt.Sprintf("%s, document %d: not YAML: %v", n, i+1, err))
				continue
			}
			o["__source"] = n
			objs = append(objs, o)
		}
	}
	return objs, problems
}

func stripComments(doc string) string {
	var keep []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func id(o object) string { return str(o, "kind") + "/" + str(o, "metadata", "name") }

// external: objects the release uses but does not make ("Secret/name": an existing Secret).
func checkObjects(objs []object, external map[string]bool) []string {
	var problems []string
	fail := func(o object, format string, args ...interface{}) {
		problems = append(problems, fmt.Sprintf("%s (%s): %s", id(o), o["__source"], fmt.Sprintf(format, args...)))
	}
	byKind := map[string]map[string]object{}
	for _, o := range objs {
		if str(o, "apiVersion") == "" || str(o, "kind") == "" {
			fail(o, "apiVersion and kind are required")
			continue
		}
		name := str(o, "metadata", "name")
		if name == "" || len(name) > 253 || !dns1123Subdomain.MatchString(name) {
			fail(o, "metadata.name %q is not a DNS-1123 subdomain", name)
		}
		if byKind[str(o, "kind")] == nil {
			byKind[str(o, "kind")] = map[string]object{}
		}
		if _, dup := byKind[str(o, "kind")][name]; dup {
			fail(o, "rendered twice")
		}
		byKind[str(o, "kind")][name] = o
		for k, v := range stringMap(o, "metadata", "labels") {
			if !labelKey.MatchString(k) || len(v) > 63 || !labelValue.MatchString(v) {
				fail(o, "label %s=%q is not a valid label", k, v)
			}
		}
	}
	has := func(kind, name string) bool { _, ok := byKind[kind][name]; return ok || external[kind+"/"+name] }

	workloads := map[string]object{} // pod templates by workload id
	for _, kind := range []string{"Deployment", "StatefulSet", "DaemonSet"} {
		for _, o := range byKind[kind] {
			workloads[id(o)] = o
			selector := stringMap(o, "spec", "selector", "matchLabels")
			labels := stringMap(o, "spec", "template", "metadata", "labels")
			if len(selector) == 0 {
				fail(o, "spec.selector.matchLabels is empty")
			}
			for k, v := range selector {
				if labels[k] != v {
					fail(o, "the selector %s=%s does not match the pod template's labels", k, v)
				}
			}
			checkPod(o, path(o, "spec", "template", "spec"), has, func(f string, a ...interface{}) { fail(o, f, a...) })
			if kind == "StatefulSet" && !has("Service", str(o, "spec", "serviceName")) {
				fail(o, "spec.serviceName %q is no Service of the release", str(o, "spec", "serviceName"))
			}
		}
	}
	for _, o := range byKind["Pod"] {
		checkPod(o, path(o, "spec"), has, func(f string, a ...interface{}) { fail(o, f, a...) })
	}
	for _, svc := range byKind["Service"] {
		selector := stringMap(svc, "spec", "selector")
		var matched object
		for _, w := range workloads {
			labels := stringMap(w, "spec", "template", "metadata", "labels")
			all := len(selector) > 0
			for k, v := range selector {
				all = all && labels[k] == v
			}
			if all {
				matched = w
			}
		}
		if matched == nil {
			fail(svc, "its selector %v matches no workload's pods", selector)
			continue
		}
		ports := containerPorts(path(matched, "spec", "template", "spec"))
		for _, p := range list(svc, "spec", "ports") {
			if t, ok := path(p, "targetPort").(string); ok && !ports[t] {
				fail(svc, "targetPort %q is no named port of %s", t, id(matched))
			}
		}
	}
	for _, o := range byKind["Secret"] {
		for k, v := range stringMap(o, "data") {
			if _, err := base64.StdEncoding.DecodeString(v); err != nil || v == "" {
				fail(o, "data.%s is not base64 (or empty)", k)
			}
		}
	}
	for _, o := range byKind["ClusterRoleBinding"] {
		if !has(str(o, "roleRef", "kind"), str(o, "roleRef", "name")) {
			fail(o, "roleRef %s/%s is not in the release", str(o, "roleRef", "kind"), str(o, "roleRef", "name"))
		}
		for _, s := range list(o, "subjects") {
			if str(s, "kind") == "ServiceAccount" && (!has("ServiceAccount", str(s, "name")) || str(s, "namespace") == "") {
				fail(o, "subject ServiceAccount %q is not in the release or has no namespace", str(s, "name"))
			}
		}
	}
	return problems
}

func containerPorts(pod interface{}) map[string]bool {
	ports := map[string]bool{}
	for _, c := range list(pod, "containers") {
		for _, p := range list(c, "ports") {
			ports[str(p, "name")] = true
		}
	}
	return ports
}

func checkPod(o object, pod interface{}, has func(kind, name string) bool, fail func(string, ...interface{})) {
	if sa := str(pod, "serviceAccountName"); sa != "" && !has("ServiceAccount", sa) {
		fail("serviceAccountName %q is no ServiceAccount of the release", sa)
	}
	volumes := map[string]bool{}
	for _, v := range list(pod, "volumes") {
		volumes[str(v, "name")] = true
		if cm := str(v, "configMap", "name"); cm != "" && !has("ConfigMap", cm) {
			fail("volume %s: ConfigMap %q is not in the release", str(v, "name"), cm)
		}
		if s := str(v, "secret", "secretName"); s != "" && !has("Secret", s) {
			fail("volume %s: Secret %q is not in the release", str(v, "name"), s)
		}
	}
	claims := map[string]bool{}
	for _, t := range list(o, "spec", "volumeClaimTemplates") {
		claims[str(t, "metadata", "name")] = true
	}
	containers := append(list(pod, "initContainers"), list(pod, "containers")...)
	if len(list(pod, "containers")) == 0 {
		fail("no container")
	}
	for _, c := range containers {
		name := str(c, "name")
		if !dns1123Label.MatchString(name) || str(c, "image") == "" {
			fail("container %q needs a DNS-1123 name and an image", name)
		}
		ports := map[string]bool{}
		for _, p := range list(c, "ports") {
			if n := str(p, "name"); len(n) > 15 || !dns1123Label.MatchString(n) {
				fail("container %s: port name %q is not an IANA service name (15 characters at most)", name, n)
			}
			ports[str(p, "name")] = true
		}
		for _, probe := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
			if p, ok := path(c, probe, "httpGet", "port").(string); ok && !ports[p] {
				fail("container %s: %s port %q is not one of its named ports", name, probe, p)
			}
		}
		for _, m := range list(c, "volumeMounts") {
			if v := str(m, "name"); !volumes[v] && !claims[v] {
				fail("container %s mounts %q, which is no volume of the pod", name, v)
			}
			if !strings.HasPrefix(str(m, "mountPath"), "/") {
				fail("container %s: mountPath %q is not absolute", name, str(m, "mountPath"))
			}
		}
	}
}

// Command argo-templates evaluates Argo CD's and Argo Rollouts' template languages with the libraries they are
// built on, so the tests of argocd/ check our notification templates and deep links with the real semantics
// instead of a model: Go's text/template with the sprig function map (env and expandenv removed, as the
// notifications engine and Argo CD's deep links do) and expr conditions (trigger `when`, deep link `if`).
//
// It reads a JSON array of jobs on stdin and writes a JSON array of results, one per job, in order:
//
//	{"template": "...", "vars": {...}}   -> {"output": "..."} or {"error": "..."}
//	{"expr": "...", "vars": {...}}       -> {"value": <any>} or {"error": "..."}
//
// Templates run with missingkey=default, like the engines (a missing key renders "<no value>").
package main

import (
	"bytes"
	"encoding/json"
	"os"
	"text/template"

	"github.com/Masterminds/sprig"
	"github.com/antonmedv/expr"
)

type job struct {
	Template *string        `json:"template"`
	Expr     *string        `json:"expr"`
	Vars     map[string]any `json:"vars"`
}

type result struct {
	Output *string `json:"output,omitempty"`
	Value  any     `json:"value,omitempty"`
	Error  string  `json:"error,omitempty"`
}

func functions() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	delete(f, "getHostByName")
	return f
}

func run(j job, f template.FuncMap) result {
	switch {
	case j.Template != nil:
		t, err := template.New("template").Funcs(f).Parse(*j.Template)
		if err != nil {
			return result{Error: err.Error()}
		}
		var out bytes.Buffer
		if err := t.Execute(&out, j.Vars); err != nil {
			return result{Error: err.Error()}
		}
		s := out.String()
		return result{Output: &s}
	case j.Expr != nil:
		value, err := expr.Eval(*j.Expr, j.Vars)
		if err != nil {
			return result{Error: err.Error()}
		}
		return result{Value: value}
	default:
		return result{Error: "a job needs `template` or `expr`"}
	}
}

func main() {
	var jobs []job
	if err := json.NewDecoder(os.Stdin).Decode(&jobs); err != nil {
		os.Stderr.WriteString("argo-templates: cannot read jobs: " + err.Error() + "\n")
		os.Exit(2)
	}
	f := functions()
	results := make([]result, len(jobs))
	for i, j := range jobs {
		results[i] = run(j, f)
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		os.Exit(2)
	}
}

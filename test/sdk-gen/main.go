// sdk-gen writes the Python and Go SDKs that `pulumi package add` generates from this package's
// schema, with the code generators the Pulumi CLI's language hosts run (pulumi-language-python
// and pulumi-language-go call these same functions from their GeneratePackage). Those hosts are
// not served by any registry here; their generators are, in github.com/pulumi/pulumi/pkg/v3.
//
// Usage: sdk-gen SCHEMA.json OUT_DIR  (writes OUT_DIR/python and OUT_DIR/go)
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/blang/semver"
	gogen "github.com/pulumi/pulumi/pkg/v3/codegen/go"
	pygen "github.com/pulumi/pulumi/pkg/v3/codegen/python"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

// noPackages is the loader for a schema that refers to no other package (ours refers to none).
type noPackages struct{}

func (noPackages) LoadPackage(pkg string, _ *semver.Version) (*schema.Package, error) {
	return nil, fmt.Errorf("the schema refers to package %q; sdk-gen loads none", pkg)
}

func (noPackages) LoadPackageV2(_ context.Context, d *schema.PackageDescriptor) (*schema.Package, error) {
	return nil, fmt.Errorf("the schema refers to package %q; sdk-gen loads none", d.Name)
}

func (noPackages) LoadPackageReference(pkg string, _ *semver.Version) (schema.PackageReference, error) {
	return nil, fmt.Errorf("the schema refers to package %q; sdk-gen loads none", pkg)
}

func (noPackages) LoadPackageReferenceV2(_ context.Context, d *schema.PackageDescriptor) (schema.PackageReference, error) {
	return nil, fmt.Errorf("the schema refers to package %q; sdk-gen loads none", d.Name)
}

func write(dir string, files map[string][]byte) error {
	for name, data := range files {
		out := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(out, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func bind(raw []byte) (*schema.Package, error) {
	var spec schema.PackageSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, err
	}
	// As the CLI's `pulumi package add` binds it (cmd/pulumi/packages: BindSpec, SupportPack).
	pkg, diags, err := schema.BindSpec(spec, schema.NewCachedLoader(noPackages{}), schema.ValidationOptions{AllowDanglingReferences: true})
	if err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		return nil, diags
	}
	pkg.SupportPack = true
	return pkg, nil
}

func run(schemaPath, outDir string) error {
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		return err
	}
	// Each generator decorates the package it is given: bind it once for each.
	pyPkg, err := bind(raw)
	if err != nil {
		return fmt.Errorf("bind schema: %w", err)
	}
	pyFiles, err := pygen.GeneratePackage("pulumi-language-python", pyPkg, nil, schema.NewCachedLoader(noPackages{}))
	if err != nil {
		return fmt.Errorf("python: %w", err)
	}
	goPkg, err := bind(raw)
	if err != nil {
		return fmt.Errorf("bind schema: %w", err)
	}
	goFiles, err := gogen.GeneratePackage("pulumi-language-go", goPkg, nil)
	if err != nil {
		return fmt.Errorf("go: %w", err)
	}
	if err := write(filepath.Join(outDir, "python"), pyFiles); err != nil {
		return err
	}
	return write(filepath.Join(outDir, "go"), goFiles)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: sdk-gen SCHEMA.json OUT_DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "sdk-gen:", err)
		os.Exit(1)
	}
}

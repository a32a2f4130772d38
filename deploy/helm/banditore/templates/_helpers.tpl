{{/*
Helpers. Every per-tenant helper takes a dict: (dict "root" $ "t" $tenant).
*/}}

{{/* Object name of a tenant: banditore-<tenant>. */}}
{{- define "banditore.fullname" -}}
banditore-{{ .t.name }}
{{- end -}}

{{/* The image reference. */}}
{{- define "banditore.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/*
Selector labels: stable for the life of a tenant (StatefulSet selectors and
volumeClaimTemplates are immutable, so nothing here may change with an upgrade).
*/}}
{{- define "banditore.selectorLabels" -}}
app.kubernetes.io/name: banditore
app.kubernetes.io/instance: {{ .root.Release.Name }}
banditore/tenant: {{ .t.name }}
{{- end -}}

{{/* Kubernetes recommended labels, with the tenant. */}}
{{- define "banditore.labels" -}}
{{ include "banditore.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | replace "+" "_" | trunc 63 | quote }}
app.kubernetes.io/component: news-forwarder
app.kubernetes.io/part-of: banditore
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 }}
{{- end -}}

{{/*
Checks a tenant and fails the render with a message naming it. The values schema checks
shapes; this checks what a schema cannot: unique names, and that the configuration listens
where the probes, the Service and the Ingress look.
*/}}
{{- define "banditore.validateTenant" -}}
{{- $t := .t -}}
{{- if not (regexMatch `^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$` ($t.name | toString)) -}}
{{- fail (printf "tenant %q: name must be a DNS label of at most 40 characters ([a-z0-9-])" ($t.name | toString)) -}}
{{- end -}}
{{- if not $t.secretName -}}
{{- fail (printf "tenant %q: secretName (an existing Secret with its tokens) is required" $t.name) -}}
{{- end -}}
{{- if not $t.config -}}
{{- fail (printf "tenant %q: config (its sources.toml) is required" $t.name) -}}
{{- end -}}
{{- if not (regexMatch `(?m)^[ \t]*admin_listen[ \t]*=[ \t]*["'](0\.0\.0\.0|\[::\]):8080["']` $t.config) -}}
{{- fail (printf "tenant %q: config needs admin_listen = \"0.0.0.0:8080\" in [settings] (probes and metrics use it)" $t.name) -}}
{{- end -}}
{{- if and $t.ingress (not (regexMatch `(?m)^[ \t]*webhook_listen[ \t]*=[ \t]*["'](0\.0\.0\.0|\[::\]):8081["']` $t.config)) -}}
{{- fail (printf "tenant %q: with an ingress, config needs webhook_listen = \"0.0.0.0:8081\" in [settings]" $t.name) -}}
{{- end -}}
{{- end -}}

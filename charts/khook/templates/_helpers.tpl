{{- define "khook.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "khook.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "khook.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "khook.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "khook.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
khook.validate fails the render for combinations the schema cannot express.
*/}}
{{- define "khook.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) -}}
{{- fail (printf "leaderElection.enabled=false with replicaCount=%d: every replica would handle every event and call agents several times; keep leader election on" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and (gt (int .Values.kubeApi.burst) 0) (eq (float64 .Values.kubeApi.qps) 0.0) -}}
{{- fail "kubeApi.burst is set but kubeApi.qps is 0: the burst has no effect without a qps limit" -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: the ServiceMonitor selects the metrics Service" -}}
{{- end -}}
{{- if .Values.eventSources.enabled -}}
{{- include "khook.validateMappings" . -}}
{{- end -}}
{{- end -}}

{{/*
khook.validateMappings refuses eventSources.mappings in the spelling of earlier khook releases
(eventType the source's own name, internalType the khook type), saying what to swap, as khook
itself does at start (docs/sources.md, docs/upgrading.md).
*/}}
{{- define "khook.validateMappings" -}}
{{- $typeFormat := "^[a-z][a-z0-9]*(-[a-z0-9]+)*$" -}}
{{- $keys := "(eventType is the type Hooks use, internalType the source's own name)" -}}
{{- range $i, $m := .Values.eventSources.mappings -}}
{{- $type := toString (default "" $m.eventType) -}}
{{- $own := toString (default "" $m.internalType) -}}
{{- if and $type (not (regexMatch $typeFormat $type)) -}}
{{- if and $own (regexMatch $typeFormat $own) -}}
{{- fail (printf "eventSources.mappings[%d]: eventType %q is not a khook event type (lower-case words joined by dashes), and internalType %q is one: this looks like the old spelling: swap eventType and internalType %s" $i $type $own $keys) -}}
{{- else if not $own -}}
{{- fail (printf "eventSources.mappings[%d]: eventType %q is not a khook event type (lower-case words joined by dashes), and internalType is missing: this looks like the old spelling, where eventType held the source's own name: rename eventType to internalType %s" $i $type $keys) -}}
{{- else -}}
{{- fail (printf "eventSources.mappings[%d]: eventType %q is not a khook event type (lower-case words joined by dashes)" $i $type) -}}
{{- end -}}
{{- end -}}
{{- if not $own -}}
{{- fail (printf "eventSources.mappings[%d]: internalType is required: the source's own name for the event (an alert's name, a kind such as PodRestart) %s" $i $keys) -}}
{{- end -}}
{{- end -}}
{{- end -}}

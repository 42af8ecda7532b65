{{/*
A component's Service: its extra ports plus the admin port (metrics, health).
(dict "root" $ "component" "gateway" "adminPort" 9103 "ports" (list (dict "name" "http" "port" 8080)) ["type" "ClusterIP"] ["annotations" (dict)])
*/}}
{{- define "apm-coverage.adminService" -}}
{{- $root := .root -}}
{{- $ctx := dict "root" $root "component" .component -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "apm-coverage.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "apm-coverage.componentLabels" $ctx | nindent 4 }}
  {{- with .annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ default "ClusterIP" .type }}
  selector:
    {{- include "apm-coverage.selectorLabels" $ctx | nindent 4 }}
  ports:
    {{- range .ports }}
    - name: {{ .name }}
      port: {{ int .port }}
      targetPort: {{ .name }}
      protocol: TCP
      {{- if eq .name "grpc" }}
      appProtocol: grpc
      {{- else }}
      appProtocol: http
      {{- end }}
    {{- end }}
    - name: admin
      port: {{ int .adminPort }}
      targetPort: admin
      protocol: TCP
      appProtocol: http
{{- end -}}
